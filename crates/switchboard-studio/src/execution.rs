//! Studio executions (`FN…`): one run of a flow revision for one customer, as a stream of
//! events. `decide` runs widgets from where the execution is until it must wait for the world
//! (a message's outcome, the customer's reply, an HTTP answer) or ends; what must happen in the
//! world comes out as events (`MessageRequested`, `HttpRequested`, `FlexTaskRequested`) that the
//! actor layer carries out from the log, and the world's answers come back as commands.
//!
//! The definition is not in the state: every command carries the compiled revision the
//! execution is pinned to (`flow_sid`, `revision`), shared by all executions of that revision,
//! so an idle execution costs its context and a few fields. Step SIDs are derived from the
//! execution's SID and the step's number ([`step_sid`]), so they need no randomness; events
//! carry them, so a replay names every step as it was named.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use switchboard_domain::{Aggregate, DomainEvent, Recorded, Sid, SidPrefix, Timestamp};

use crate::ValidDefinition;

/// Steps one execution may enter, unless its start says otherwise.
pub const DEFAULT_MAX_STEPS: u32 = 100;
/// The largest context (trigger, widgets' outputs, variables) an execution may hold, as JSON
/// bytes, unless its start says otherwise: room for one HTTP answer of Studio's largest (64 kB)
/// beside the rest. An idle execution is mostly its context, usually well under 1 kB.
pub const DEFAULT_MAX_CONTEXT_BYTES: u32 = 128 * 1024;
/// Studio's limits on an HTTP call (`make-http-request`, `run-function`): an answer within
/// 10 seconds, a body of at most 64 kB. The actor layer applies the time; a larger body given
/// to `decide` is a failure.
pub const HTTP_TIMEOUT_SECS: u64 = 10;
pub const MAX_HTTP_RESPONSE_BYTES: usize = 64 * 1024;
/// The most steps and context any start may ask for.
pub const MAX_STEPS_LIMIT: u32 = 10_000;
pub const MAX_CONTEXT_BYTES_LIMIT: u32 = 1024 * 1024;

/// The SID of step `number` (from 0) of `execution`: `FT` and the first 16 bytes of a SHA-256 of
/// both. Hashed, not laid out, because executions started by messages share their channel's id
/// bytes (`Sid::message_of`), so any part of their SIDs repeats across a channel's executions;
/// and step SIDs name bot messages and send-to-flex tasks, which a repeated SID would swallow as
/// already done. Steps recorded before keep the SIDs their events carry.
pub fn step_sid(execution: Sid, number: u32) -> Sid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"switchboard studio step\0")
        .chain_update(execution.to_bytes())
        .chain_update(number.to_be_bytes())
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    Sid::from_parts(SidPrefix::STUDIO_STEP, id)
}

/// An execution's limits, fixed at its start (and recorded, so a replay applies the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_steps: u32,
    pub max_context_bytes: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_steps: DEFAULT_MAX_STEPS, max_context_bytes: DEFAULT_MAX_CONTEXT_BYTES }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionEvent {
    /// JSON documents are stored as text, as other events' attributes are.
    ExecutionStarted {
        execution_sid: Sid,
        flow_sid: Sid,
        revision: u32,
        /// Studio's `trigger` context (`{"message": {"Body", "From", "ChannelSid", …}}`).
        trigger: String,
        /// `flow.data`: the parameters of the start, `{}` for a message.
        data: String,
        /// `flow.channel.address`: the address the customer wrote to.
        flow_address: String,
        limits: Limits,
    },
    /// The execution entered a widget, from `transitioned_from` on its `event`.
    StepEntered {
        step_sid: Sid,
        name: String,
        widget_type: String,
        transitioned_from: String,
        event: String,
    },
    /// `widgets.NAME` is now `output` (JSON), as the step left it.
    WidgetOutput {
        name: String,
        output: String,
    },
    /// `flow.variables` gained or changed these.
    VariablesSet {
        variables: Vec<(String, String)>,
    },
    /// Send `body` to the customer on the execution's channel, as the bot.
    MessageRequested {
        step_sid: Sid,
        body: String,
    },
    /// The step waits for the customer's next message until `deadline`.
    WaitingForReply {
        step_sid: Sid,
        deadline: Timestamp,
    },
    /// Make this request; `step_sid` names it, and `idempotency_key` goes with it as the
    /// `Idempotency-Key` header, so a request repeated after a crash can be recognised.
    HttpRequested {
        step_sid: Sid,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: String,
        idempotency_key: String,
    },
    /// Create a Flex task; the execution ends with it and the channel goes to the agent.
    FlexTaskRequested {
        step_sid: Sid,
        workflow: String,
        channel: String,
        /// A JSON object, rendered from the widget's `attributes`.
        attributes: String,
        priority: Option<String>,
        timeout: Option<String>,
    },
    ExecutionEnded {
        reason: String,
    },
    ExecutionFailed {
        reason: String,
    },
    /// Deleted through the API (Studio's `DELETE …/Executions/{FN}`): no longer shown, its
    /// events kept for audit. A deleted execution takes no more commands.
    ExecutionDeleted,
}

impl DomainEvent for ExecutionEvent {
    fn type_name(&self) -> &'static str {
        match self {
            ExecutionEvent::ExecutionStarted { .. } => "studio_execution_started",
            ExecutionEvent::StepEntered { .. } => "studio_step_entered",
            ExecutionEvent::WidgetOutput { .. } => "studio_widget_output",
            ExecutionEvent::VariablesSet { .. } => "studio_variables_set",
            ExecutionEvent::MessageRequested { .. } => "studio_message_requested",
            ExecutionEvent::WaitingForReply { .. } => "studio_waiting_for_reply",
            ExecutionEvent::HttpRequested { .. } => "studio_http_requested",
            ExecutionEvent::FlexTaskRequested { .. } => "studio_flex_task_requested",
            ExecutionEvent::ExecutionEnded { .. } => "studio_execution_ended",
            ExecutionEvent::ExecutionFailed { .. } => "studio_execution_failed",
            ExecutionEvent::ExecutionDeleted => "studio_execution_deleted",
        }
    }
}

/// A command to an execution: what happened, when, and the compiled revision it runs.
#[derive(Debug, Clone)]
pub struct ExecutionCommand {
    /// The revision the execution is pinned to (for `Start`, the one it starts on).
    pub definition: Arc<ValidDefinition>,
    pub at: Timestamp,
    pub input: ExecutionInput,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionInput {
    Start {
        execution_sid: Sid,
        flow_sid: Sid,
        revision: u32,
        /// The trigger's transition to follow: `incomingMessage` for a customer's message.
        trigger_event: String,
        trigger: Value,
        data: Value,
        flow_address: String,
        limits: Limits,
    },
    /// The customer wrote while the execution may be waiting for a reply; `message` is the
    /// chat message's SID and index when there is one (`inbound.MessageSid`, `inbound.Index`),
    /// by which the runner knows which messages an execution has taken.
    Reply { body: String, from: String, message: Option<(String, u64)> },
    /// The clock passed the reply's deadline (refused before it).
    Timeout,
    /// The outcome of the message `step_sid` requested.
    MessageOutcome { step_sid: Sid, sent: bool, error: Option<String> },
    /// The HTTP request of `step_sid` was answered.
    HttpAnswered { step_sid: Sid, status: u16, content_type: Option<String>, body: String },
    /// The HTTP request of `step_sid` got no answer (refused, timed out, too large).
    HttpFailed { step_sid: Sid, reason: String },
    /// Stop the execution (Studio's `Status=ended` update).
    End,
    /// Delete it (Studio's `DELETE`): an active one ends first.
    Delete,
}

/// Why an execution refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionRejection {
    #[error("the execution does not exist")]
    NotFound,
    #[error("the execution has already started")]
    AlreadyStarted,
    #[error("the execution has ended")]
    Finished,
    #[error("the execution is not waiting for a reply")]
    NotWaitingForReply,
    #[error("the reply's timeout is not due before {0:?}")]
    NotDue(Timestamp),
    #[error("{0}")]
    Invalid(String),
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    #[default]
    Active,
    Ended,
    Failed,
}

/// What an active execution waits for, and in which step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    MessageOutcome { step_sid: Sid, name: String },
    Reply { step_sid: Sid, name: String, deadline: Timestamp },
    Http { step_sid: Sid, name: String },
}

/// An execution as its events leave it. Its size is its context and a few fields: it does not
/// grow per step (steps are events, listed from the log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExecutionState {
    pub sid: Option<Sid>,
    pub flow_sid: Option<Sid>,
    pub revision: u32,
    pub status: ExecutionStatus,
    /// Why it ended or failed.
    pub reason: Option<String>,
    /// Studio's context as JSON text, `{trigger, widgets, flow: {flow_sid, channel, variables,
    /// data}, contact}` ([`ExecutionState::context`] parses it). Text, not a parsed tree: an
    /// idle execution is mostly its context, and the tree took twelve times the text's bytes
    /// (6.2 KB for a 0.5 KB context); a command parses it once.
    pub context: String,
    pub waiting: Option<Waiting>,
    /// The step entered last (its SID and widget name).
    pub current: Option<(Sid, String)>,
    /// Steps entered so far.
    pub steps: u32,
    pub limits: Limits,
    pub date_created: Timestamp,
    pub date_updated: Timestamp,
    pub events_applied: u64,
    /// Deleted through the API; added after the first stored form, hence the default.
    #[serde(default)]
    pub deleted: bool,
}

impl ExecutionState {
    pub fn is_active(&self) -> bool {
        self.sid.is_some() && self.status == ExecutionStatus::Active && !self.deleted
    }

    /// Started and not deleted: what the API shows.
    pub fn is_shown(&self) -> bool {
        self.sid.is_some() && !self.deleted
    }

    /// When a pending reply times out, for the actor layer's timer.
    pub fn reply_deadline(&self) -> Option<Timestamp> {
        match &self.waiting {
            Some(Waiting::Reply { deadline, .. }) => Some(*deadline),
            _ => None,
        }
    }

    /// The context, parsed (`null` before the start).
    pub fn context(&self) -> Value {
        serde_json::from_str(&self.context).unwrap_or(Value::Null)
    }

    /// The context's size as JSON, compared with the limit.
    pub fn context_bytes(&self) -> usize {
        self.context.len()
    }

    /// `apply` of one event at `at`, without a `Recorded` around it.
    pub(crate) fn apply_event(&mut self, at: Timestamp, event: &ExecutionEvent) {
        self.apply_except_context(at, event);
        match event {
            ExecutionEvent::ExecutionStarted { .. } if self.context.is_empty() => {
                self.context = initial_context(event).to_string();
            }
            // Before a start there is no context to change (a log out of order, folded anyway).
            ExecutionEvent::WidgetOutput { .. } | ExecutionEvent::VariablesSet { .. }
                if !self.context.is_empty() =>
            {
                let mut context = self.context();
                fold_context(&mut context, event);
                self.context = context.to_string();
            }
            _ => {}
        }
    }

    /// Everything `apply` does but the context: `decide` keeps the context parsed meanwhile.
    pub(crate) fn apply_except_context(&mut self, at: Timestamp, event: &ExecutionEvent) {
        self.events_applied += 1;
        match event {
            ExecutionEvent::ExecutionStarted { .. } if self.sid.is_some() => return,
            ExecutionEvent::ExecutionStarted {
                execution_sid, flow_sid, revision, limits, ..
            } => {
                self.sid = Some(*execution_sid);
                self.flow_sid = Some(*flow_sid);
                self.revision = *revision;
                self.limits = *limits;
                self.date_created = at;
            }
            ExecutionEvent::StepEntered { step_sid, name, .. } => {
                self.steps = self.steps.saturating_add(1);
                self.current = Some((*step_sid, name.clone()));
                self.waiting = None;
            }
            ExecutionEvent::WidgetOutput { .. } | ExecutionEvent::VariablesSet { .. } => {}
            ExecutionEvent::MessageRequested { step_sid, .. } => {
                self.waiting = self
                    .current_name()
                    .map(|name| Waiting::MessageOutcome { step_sid: *step_sid, name });
            }
            ExecutionEvent::WaitingForReply { step_sid, deadline } => {
                self.waiting = self.current_name().map(|name| Waiting::Reply {
                    step_sid: *step_sid,
                    name,
                    deadline: *deadline,
                });
            }
            ExecutionEvent::HttpRequested { step_sid, .. } => {
                self.waiting =
                    self.current_name().map(|name| Waiting::Http { step_sid: *step_sid, name });
            }
            ExecutionEvent::FlexTaskRequested { .. } => self.waiting = None,
            ExecutionEvent::ExecutionEnded { reason } => {
                self.finish(ExecutionStatus::Ended, reason)
            }
            ExecutionEvent::ExecutionFailed { reason } => {
                self.finish(ExecutionStatus::Failed, reason)
            }
            ExecutionEvent::ExecutionDeleted => {
                self.deleted = true;
                self.waiting = None;
            }
        }
        self.date_updated = at;
    }

    fn finish(&mut self, status: ExecutionStatus, reason: &str) {
        if self.status == ExecutionStatus::Active {
            self.status = status;
            self.reason = Some(reason.to_owned());
        }
        self.waiting = None;
    }

    fn current_name(&self) -> Option<String> {
        self.current.as_ref().map(|(_, name)| name.clone())
    }
}

/// The context an `ExecutionStarted` opens with (`null` for any other event).
pub(crate) fn initial_context(event: &ExecutionEvent) -> Value {
    let ExecutionEvent::ExecutionStarted { flow_sid, trigger, data, flow_address, .. } = event
    else {
        return Value::Null;
    };
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    let trigger = parse(trigger);
    let contact = trigger.pointer("/message/From").cloned().unwrap_or(Value::Null);
    json!({
        "trigger": trigger,
        "widgets": {},
        "flow": {
            "flow_sid": flow_sid.to_string(),
            "channel": {"address": flow_address},
            "variables": {},
            "data": parse(data),
        },
        "contact": {"channel": {"address": contact}},
    })
}

/// What a `WidgetOutput` or `VariablesSet` does to the context (nothing for other events).
pub(crate) fn fold_context(context: &mut Value, event: &ExecutionEvent) {
    match event {
        ExecutionEvent::WidgetOutput { name, output } => {
            let output = serde_json::from_str(output).unwrap_or(Value::Null);
            if let Some(widgets) = section(context, &["widgets"]) {
                widgets.insert(name.clone(), output);
            }
        }
        ExecutionEvent::VariablesSet { variables } => {
            if let Some(known) = section(context, &["flow", "variables"]) {
                for (key, value) in variables {
                    known.insert(key.clone(), Value::String(value.clone()));
                }
            }
        }
        _ => {}
    }
}

/// The context's object at `path`, if the context has it (a started execution's does).
fn section<'c>(context: &'c mut Value, path: &[&str]) -> Option<&'c mut Map<String, Value>> {
    let mut at = context;
    for key in path {
        at = at.get_mut(*key)?;
    }
    at.as_object_mut()
}

impl Aggregate for ExecutionState {
    type Event = ExecutionEvent;
    type Command = ExecutionCommand;
    type Rejection = ExecutionRejection;
    type Pending = ();

    const PREFIX: SidPrefix = SidPrefix::STUDIO_EXECUTION;
    const NAME: &'static str = "studio execution";

    fn decide(&self, command: ExecutionCommand) -> Result<Vec<ExecutionEvent>, ExecutionRejection> {
        crate::run::decide(self, command)
    }

    /// The runner folds every event into a copy as it emits it (the context kept parsed), so
    /// that copy is the state after them; `apply` of each would parse the context again.
    fn decide_folded(
        &self,
        command: ExecutionCommand,
        at: Timestamp,
    ) -> Result<(Vec<ExecutionEvent>, Option<ExecutionState>), ExecutionRejection> {
        // The runner dates its fold by the command; a record dated otherwise is folded anew.
        let dated_alike = command.at == at;
        let (events, folded) = crate::run::decide_folded(self, command)?;
        Ok((events, folded.filter(|_| dated_alike)))
    }

    fn apply(&mut self, record: &Recorded<ExecutionEvent>) {
        self.apply_event(record.at, &record.event);
    }

    fn events_applied(&self) -> u64 {
        self.events_applied
    }

    fn skip_unreadable(&mut self) {
        self.events_applied += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(prefix: SidPrefix) -> Sid {
        Sid::from_parts(prefix, [5; 16])
    }

    fn every_event() -> Vec<ExecutionEvent> {
        let step = sid(SidPrefix::STUDIO_STEP);
        vec![
            ExecutionEvent::WidgetOutput { name: "w".into(), output: "{not json".into() },
            ExecutionEvent::VariablesSet { variables: vec![("a".into(), "1".into())] },
            ExecutionEvent::MessageRequested { step_sid: step, body: "x".into() },
            ExecutionEvent::WaitingForReply { step_sid: step, deadline: Timestamp(9) },
            ExecutionEvent::HttpRequested {
                step_sid: step,
                method: "GET".into(),
                url: "https://x".into(),
                headers: vec![],
                body: String::new(),
                idempotency_key: step.to_string(),
            },
            ExecutionEvent::StepEntered {
                step_sid: step,
                name: "w".into(),
                widget_type: "send-message".into(),
                transitioned_from: "Trigger".into(),
                event: "incomingMessage".into(),
            },
            ExecutionEvent::FlexTaskRequested {
                step_sid: step,
                workflow: "WW".into(),
                channel: "TC".into(),
                attributes: "{}".into(),
                priority: None,
                timeout: None,
            },
            ExecutionEvent::ExecutionEnded { reason: "r".into() },
            ExecutionEvent::ExecutionFailed { reason: "s".into() },
        ]
    }

    fn started() -> ExecutionEvent {
        ExecutionEvent::ExecutionStarted {
            execution_sid: sid(SidPrefix::STUDIO_EXECUTION),
            flow_sid: sid(SidPrefix::STUDIO_FLOW),
            revision: 3,
            trigger: r#"{"message": {"Body": "hi", "From": "+1555"}}"#.into(),
            data: "not json".into(),
            flow_address: "+1500".into(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn apply_is_total_even_on_a_log_out_of_order() {
        let mut state = ExecutionState::default();
        for event in every_event() {
            Aggregate::apply(&mut state, &Recorded::new(Timestamp(1), event));
        }
        assert!(!state.is_active() && state.context.is_empty(), "nothing started");
        Aggregate::apply(&mut state, &Recorded::new(Timestamp(2), started()));
        assert_eq!(state.context()["contact"]["channel"]["address"], "+1555");
        assert_eq!(state.context()["flow"]["data"], json!({}), "bad data is an empty object");
        let before = state.clone();
        Aggregate::apply(&mut state, &Recorded::new(Timestamp(3), started()));
        assert_eq!(state.context, before.context, "a second start changes nothing");
        assert_eq!(state.events_applied, 11);
    }

    #[test]
    fn the_first_ending_is_the_reason_kept() {
        let mut state = ExecutionState::default();
        let mut events = vec![started()];
        events.extend(every_event());
        for event in events {
            Aggregate::apply(&mut state, &Recorded::new(Timestamp(1), event));
        }
        assert_eq!(state.context()["widgets"]["w"], Value::Null, "output that is no JSON");
        assert_eq!(state.context()["flow"]["variables"]["a"], "1");
        assert_eq!((state.status, state.reason.as_deref()), (ExecutionStatus::Ended, Some("r")));
        assert_eq!(state.waiting, None);
        assert_eq!(state.steps, 1);
    }
}
