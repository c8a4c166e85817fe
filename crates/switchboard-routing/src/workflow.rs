//! A workflow's `Configuration`: its filters and their targets (routing steps), parsed from
//! Twilio's JSON, and the rules that use them: which filter a task takes, which step applies as
//! time passes, which workers a step may offer the task to, in which order, and when it is skipped.
//!
//! The shape is Twilio's:
//! `{"task_routing":{"filters":[{"filter_friendly_name","expression","targets":[{"queue",
//! "expression","priority","timeout","order_by","skip_if","known_worker_sid"}]}],
//! "default_filter":{"queue"}}}`. Unknown keys are refused with the JSON path of the fault.
//! Queues are named by SID (`WQ…`); whether they exist is the caller's to check
//! ([`WorkflowConfiguration::queue_sids`]).
//!
//! Decisions where Twilio's documentation is silent or unverified:
//! - `filter_friendly_name` is optional; Twilio's older libraries write it `friendly_name`, which
//!   is accepted too. `filters` may be absent; `default_filter` may be absent (Twilio's own
//!   timeout example has none), but a configuration with neither is refused. A filter needs at
//!   least one target; the first target needs a `queue`; a later target without one reuses the
//!   queue before it (as Twilio's example of a second step `{"timeout": 15}` does).
//! - `priority` and `timeout` are whole numbers; a string holding one (`"30"`, as Twilio's
//!   template of the document writes them) is accepted. `priority` is at most 2^31-1.
//! - Step timeouts accumulate from the moment the task entered the route (Twilio: "the queue
//!   timeout is the sum of Q1 and Q2 timeouts ... based on the age of the task"): step *k* ends
//!   when the task has been routed for the sum of the timeouts of steps 0..=k. A step without a
//!   `timeout` never ends; the steps after it are reached only by `skip_if`, and such an untimed
//!   step counts 0 in the sums of later steps (it was left at once). A step with `timeout: 0` is
//!   passed over.
//! - When the last step's timeout passes, the task is canceled with
//!   [`WORKFLOW_TIMEOUT_REASON`]; `default_filter` is *not* tried then (Twilio: "the default
//!   filter is only invoked if a task doesn't match any filters").
//! - `skip_if` skips a step only when no reservation was made on entering it (the caller's to
//!   know); skipping the last step of a filter counts as not matching it: routing goes on with
//!   the filters below and then the default ([`WorkflowConfiguration::route_after`]).
//! - An unmatched task without `default_filter` gets a route with no steps: it is canceled at
//!   once with [`WORKFLOW_TIMEOUT_REASON`] rather than kept waiting in no queue.
//! - `known_worker_sid` or `known_worker_friendly_name` (Twilio: one or the other; both are
//!   refused) names a task attribute (`task.targetSid`, or a bare key, which reads the task);
//!   only the worker whose `sid` (`friendly_name`) equals its value is eligible, and none when
//!   the attribute is missing or not a string.
//!   That worker must also match the queue and the target expression (Twilio's error 40152 is
//!   about a known worker outside the queue; [`Target::known_worker`] lets the caller report it).

mod configuration;

use std::cmp::Ordering;

use serde_json::Value;
use switchboard_domain::Sid;

use crate::expression::{Expression, KeyPath, Operands, Root, SortKey};

pub use configuration::{ConfigurationError, MAX_CONFIGURATION_BYTES};

/// The reason a task is canceled with when it passes its route's last step.
pub const WORKFLOW_TIMEOUT_REASON: &str = "Task canceled on Workflow timeout";

/// The reason a task is canceled with when no filter matches and the workflow has no default
/// filter (ours: Twilio keeps such a task nowhere).
pub const UNROUTED_REASON: &str = "Task did not match any workflow filter";

/// A parsed workflow configuration and the JSON text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowConfiguration {
    source: String,
    filters: Vec<Filter>,
    /// The default filter as a route of one step, or no step when there is no default filter.
    default_targets: Vec<Target>,
}

/// A named filter: an expression on the task's attributes and the steps of its route.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    name: Option<String>,
    expression: Expression,
    targets: Vec<Target>,
}

/// A routing step: a queue, which of its workers, at which priority, for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    queue: Sid,
    expression: Option<Expression>,
    priority: Option<u32>,
    timeout: Option<u32>,
    /// Seconds after entering the route at which this step ends (see the module's documentation).
    ends_after: Option<u64>,
    order_by: Option<OrderBy>,
    skip_if: Option<Expression>,
    known_worker: Option<KnownWorker>,
}

/// The one worker a step is restricted to: the task attribute that holds the worker's SID or
/// friendly name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownWorker {
    Sid(KeyPath),
    FriendlyName(KeyPath),
}

/// A target's `order_by`: workers sorted by numeric attributes, later clauses breaking ties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    keys: Vec<SortKey>,
}

/// Which filter routed a task; kept by the caller to find the route again
/// ([`WorkflowConfiguration::route_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matched {
    /// The filter at this index of `filters`.
    Filter(usize),
    Default,
}

/// The route a task takes: the filter that matched and its steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route<'a> {
    pub matched: Matched,
    /// The filter's `filter_friendly_name`; `None` for the default filter or an unnamed filter.
    pub filter_name: Option<&'a str>,
    pub targets: &'a [Target],
}

/// Where a task stands on its route.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step<'a> {
    /// Waiting in this step (`index` into the route's targets).
    Target { index: usize, target: &'a Target },
    /// Past the last step's timeout: cancel the task with [`WORKFLOW_TIMEOUT_REASON`].
    TimedOut,
    /// Every remaining step was skipped: route again with [`WorkflowConfiguration::route_after`].
    Skipped,
}

/// A task's place on its workflow after a step was skipped: the route it is on, the first step
/// of it not skipped, whether it entered that route just now, and the step that applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed<'a> {
    pub route: Route<'a>,
    /// The first step of `route` not skipped.
    pub from: usize,
    /// The route was entered anew (every step of the one before was skipped): its timeouts count
    /// from now.
    pub fresh: bool,
    /// The step that applies: a target, or `TimedOut` (cancel the task) when no step is left.
    pub step: Step<'a>,
}

impl WorkflowConfiguration {
    /// Parses a configuration, or says at which JSON path and why it is refused.
    pub fn parse(json: &str) -> Result<WorkflowConfiguration, ConfigurationError> {
        configuration::parse(json)
    }

    /// The JSON text as given, echoed back as the workflow's `configuration`.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// Every queue the configuration names, each once, in order of appearance.
    pub fn queue_sids(&self) -> Vec<Sid> {
        let mut sids: Vec<Sid> = Vec::new();
        let targets = self.filters.iter().flat_map(|filter| &filter.targets);
        for target in targets.chain(&self.default_targets) {
            if !sids.contains(&target.queue) {
                sids.push(target.queue);
            }
        }
        sids
    }

    /// The route of a task: the first filter whose expression holds for its attributes (bare
    /// keys read the task), else the default filter.
    pub fn route(&self, task_attributes: &Value) -> Route<'_> {
        self.route_after(task_attributes, None)
    }

    /// The route after the task skipped every step of `skipped`: the first filter below it that
    /// holds, else the default filter.
    pub fn route_after(&self, task_attributes: &Value, skipped: Option<Matched>) -> Route<'_> {
        let first = match skipped {
            None => 0,
            Some(Matched::Filter(index)) => index + 1,
            Some(Matched::Default) => self.filters.len(),
        };
        let operands = Operands::bare_task(task_attributes);
        let found = self
            .filters
            .iter()
            .enumerate()
            .skip(first)
            .find(|(_, filter)| filter.expression.evaluate(&operands));
        match found {
            Some((index, _)) => self.filter_route(index),
            None => self.default_route(),
        }
    }

    /// Where a task goes that skips step `index` of route `matched`, `elapsed` seconds after it
    /// entered that route: the next step of the route still open; when `index` was its last
    /// step, the route counts as not matched and the task enters the next filter below that
    /// holds, else the default filter, at its first step. A route with no step left gives
    /// `Step::TimedOut`.
    pub fn skip_step(
        &self,
        task_attributes: &Value,
        matched: Matched,
        index: usize,
        elapsed: u64,
    ) -> Placed<'_> {
        let route = self.route_of(matched).unwrap_or_else(|| self.route(task_attributes));
        let from = index + 1;
        match route.step_at(elapsed, from) {
            Step::Skipped => {
                let next = self.route_after(task_attributes, Some(route.matched));
                Placed { route: next, from: 0, fresh: true, step: next.step_at(0, 0) }
            }
            step => Placed { route, from, fresh: false, step },
        }
    }

    /// The route a stored [`Matched`] names; `None` when the filter is gone (the configuration
    /// was changed).
    pub fn route_of(&self, matched: Matched) -> Option<Route<'_>> {
        match matched {
            Matched::Filter(index) if index < self.filters.len() => Some(self.filter_route(index)),
            Matched::Filter(_) => None,
            Matched::Default => Some(self.default_route()),
        }
    }

    fn filter_route(&self, index: usize) -> Route<'_> {
        let filter = &self.filters[index];
        Route {
            matched: Matched::Filter(index),
            filter_name: filter.name.as_deref(),
            targets: &filter.targets,
        }
    }

    fn default_route(&self) -> Route<'_> {
        Route { matched: Matched::Default, filter_name: None, targets: &self.default_targets }
    }
}

impl Filter {
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn expression(&self) -> &Expression {
        &self.expression
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }
}

impl<'a> Route<'a> {
    /// The step that applies `elapsed` seconds after the task entered this route, at `from` or
    /// later (the steps before `from` were skipped; 0 when none was).
    pub fn step_at(&self, elapsed: u64, from: usize) -> Step<'a> {
        if from >= self.targets.len() {
            // Nothing left to time out: the last steps were skipped (or there are none, with no
            // default filter, which cancels as a timeout does).
            return if self.targets.is_empty() { Step::TimedOut } else { Step::Skipped };
        }
        let open =
            self.targets.iter().enumerate().skip(from).find(|(_, target)| {
                target.ends_after.is_none_or(|ends_after| elapsed < ends_after)
            });
        match open {
            Some((index, target)) => Step::Target { index, target },
            None => Step::TimedOut,
        }
    }
}

impl Target {
    /// The queue of this step (the one before it when the target names none).
    pub fn queue(&self) -> Sid {
        self.queue
    }

    pub fn expression(&self) -> Option<&Expression> {
        self.expression.as_ref()
    }

    /// The priority the task takes on entering this step, if the target sets one.
    pub fn priority(&self) -> Option<u32> {
        self.priority
    }

    /// This step's own `timeout`, in seconds.
    pub fn timeout(&self) -> Option<u32> {
        self.timeout
    }

    /// Seconds after entering the route at which this step ends; `None` when it never does.
    pub fn ends_after(&self) -> Option<u64> {
        self.ends_after
    }

    pub fn order_by(&self) -> Option<&OrderBy> {
        self.order_by.as_ref()
    }

    pub fn skip_if(&self) -> Option<&Expression> {
        self.skip_if.as_ref()
    }

    pub fn known_worker(&self) -> Option<&KnownWorker> {
        self.known_worker.as_ref()
    }

    /// Whether this step may offer the task to the worker: the queue's `target_workers` and the
    /// target's `expression` both hold (bare keys read the worker, `task.` the task), and the
    /// worker is the known worker when the target names one. `worker` is the worker's document:
    /// its attributes plus `sid`, `friendly_name`, `activity_sid`, `activity_name`.
    pub fn accepts(&self, queue_target_workers: &Expression, worker: &Value, task: &Value) -> bool {
        let operands = Operands::bare_worker(worker, Some(task));
        queue_target_workers.evaluate(&operands)
            && self.expression.as_ref().is_none_or(|expression| expression.evaluate(&operands))
            && self.known_worker.as_ref().is_none_or(|known| known.is(worker, task))
    }

    /// Whether `skip_if` holds for the counts of the step's queue, given as
    /// [`skip_document`] builds them. False when the target has no `skip_if`.
    pub fn skips(&self, counts: &Value) -> bool {
        let operands = Operands::bare_task(counts);
        self.skip_if.as_ref().is_some_and(|skip_if| skip_if.evaluate(&operands))
    }
}

/// The document `skip_if` reads: `{"workers": {"available": n, "unavailable": m, "WA…": k}}`,
/// the counts of the queue's workers by availability and by activity SID (Twilio's
/// `workers.available`, `workers.unavailable`, `workers.WAxx`).
pub fn skip_document(available: u64, unavailable: u64, by_activity: &[(Sid, u64)]) -> Value {
    let mut workers = serde_json::Map::new();
    workers.insert("available".to_owned(), available.into());
    workers.insert("unavailable".to_owned(), unavailable.into());
    for (activity, count) in by_activity {
        workers.insert(activity.to_string(), (*count).into());
    }
    serde_json::json!({ "workers": workers })
}

impl KnownWorker {
    /// The SID or friendly name the task asks for; `None` when its attribute is missing or is
    /// not a string.
    pub fn wanted<'a>(&self, task: &'a Value) -> Option<&'a str> {
        let (KnownWorker::Sid(key) | KnownWorker::FriendlyName(key)) = self;
        key.resolve(&Operands::bare_task(task))?.as_str()
    }

    fn is(&self, worker: &Value, task: &Value) -> bool {
        let field = match self {
            KnownWorker::Sid(_) => "sid",
            KnownWorker::FriendlyName(_) => "friendly_name",
        };
        let wanted = self.wanted(task);
        wanted.is_some() && worker.get(field).and_then(Value::as_str) == wanted
    }
}

impl OrderBy {
    /// Parses `worker.level DESC, worker.age ASC`: keys of the worker (`worker.` or bare).
    pub fn parse(source: &str) -> Result<OrderBy, crate::expression::ExpressionError> {
        let keys = SortKey::parse_list(source)?;
        if keys.iter().any(|sort| sort.key.root() == Root::Task) {
            return Err(crate::expression::ExpressionError {
                position: 0,
                message: "order_by sorts workers: name worker attributes, not task.".to_owned(),
            });
        }
        Ok(OrderBy { keys })
    }

    /// The order of two workers' documents: by each clause's number in turn; a worker without
    /// a number for a clause sorts after those with one, whichever the direction. `Equal` leaves
    /// the tie to the caller (longest idle first).
    pub fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for sort in &self.keys {
            let number = |worker: &Value| {
                sort.key.resolve(&Operands::bare_worker(worker, None)).and_then(Value::as_f64)
            };
            let order = match (number(a), number(b)) {
                (Some(a), Some(b)) if sort.descending => b.total_cmp(&a),
                (Some(a), Some(b)) => a.total_cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests;
