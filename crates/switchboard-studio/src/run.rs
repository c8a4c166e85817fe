//! The execution's `decide`: runs widgets from where the execution is until it must wait for
//! the world or ends. Every event is folded into a scratch copy of the state as it is emitted,
//! so later widgets render against the context earlier ones left, and the state after `decide`
//! is by construction the state a replay of its events rebuilds.
//!
//! Decisions where Studio's behaviour is not written down:
//! - `send-message` waits for its message's outcome (`MessageOutcome`) and then follows `sent`
//!   or `failed`, so a failed delivery can be branched on as in Studio.
//! - A `MessageOutcome`, HTTP answer or failure for a step the execution no longer waits on is
//!   a duplicate or a late answer: it records nothing (nothing doubled).
//! - A loop: entering a widget twice in one command with the same context can only repeat for
//!   ever (widgets are deterministic), so it fails the execution at once, naming the widget. A
//!   loop that changes the context (a counter) runs until the step limit.
//! - `send-to-flex` whose attributes do not render to a JSON object follows `failedToEnqueue`.
//!   Otherwise the execution ends with the task's request: the task's creation is the actor
//!   layer's, and `callComplete` / `callFailure` (voice) are never taken.
//! - Messages go to the execution's channel: `send-message`'s `to`, `from`, `service` and
//!   `channel` properties are kept in the definition but not read.
//! - An HTTP answer is `success` for a 2xx status, else the failure event (Studio's rule).
//!   `make-http-request`'s parameters are the form body of a form POST and go to the query of
//!   a GET or of a JSON POST (whose body is its `body` template).
//! - A reply while the execution waits on something else (a message's outcome, an HTTP
//!   answer) is refused (`NotWaitingForReply`): the caller decides what becomes of it.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use serde_json::{json, Value};
use switchboard_domain::{Sid, SidPrefix, Timestamp};

use crate::execution::{
    fold_context, initial_context, step_sid, ExecutionCommand, ExecutionEvent, ExecutionInput,
    ExecutionRejection, ExecutionState, Limits, Waiting, MAX_CONTEXT_BYTES_LIMIT,
    MAX_HTTP_RESPONSE_BYTES, MAX_STEPS_LIMIT,
};
use crate::{
    Case, ContentType, FlexWidget, HttpMethod, HttpWidget, State, Template, ValidDefinition,
    Widget, WidgetKind,
};

type Decided = Result<Vec<ExecutionEvent>, ExecutionRejection>;

pub(crate) fn decide(state: &ExecutionState, command: ExecutionCommand) -> Decided {
    decide_folded(state, command).map(|(events, _)| events)
}

/// [`decide`], and the state the runner folded the events into (context and all), when it
/// ran widgets: the state `apply` of each event at the command's time leaves.
pub(crate) fn decide_folded(
    state: &ExecutionState,
    command: ExecutionCommand,
) -> Result<(Vec<ExecutionEvent>, Option<ExecutionState>), ExecutionRejection> {
    let ExecutionCommand { definition, at, input } = command;
    if let ExecutionInput::Start { .. } = input {
        return Ok((start(state, &definition, at, input)?, None));
    }
    if !state.is_shown() {
        return Err(ExecutionRejection::NotFound);
    }
    if matches!(input, ExecutionInput::Delete) {
        let mut events = Vec::new();
        if state.is_active() {
            events.push(ExecutionEvent::ExecutionEnded { reason: "deleted".into() });
        }
        events.push(ExecutionEvent::ExecutionDeleted);
        return Ok((events, None));
    }
    if !state.is_active() {
        return Err(ExecutionRejection::Finished);
    }
    let mut run = Runner::new(state, &definition, at);
    match input {
        ExecutionInput::Start { .. } | ExecutionInput::Delete => unreachable!("handled above"),
        ExecutionInput::Reply { body, from, message } => run.reply(body, from, message)?,
        ExecutionInput::Timeout => run.timeout()?,
        ExecutionInput::MessageOutcome { step_sid, sent, error } => {
            run.message_outcome(step_sid, sent, error)
        }
        ExecutionInput::HttpAnswered { step_sid, status, content_type, body } => {
            let (success, output) = http_answer(status, content_type, body);
            run.http_outcome(step_sid, success, output)
        }
        ExecutionInput::HttpFailed { step_sid, reason } => {
            run.http_outcome(step_sid, false, json!({"error": reason}))
        }
        ExecutionInput::End => {
            run.emit(ExecutionEvent::ExecutionEnded { reason: "ended by request".into() })
        }
    }
    let Runner { mut state, context, events, .. } = run;
    state.context = context.to_string();
    Ok((events, Some(state)))
}

/// Whether an answer is a success, and `widgets.NAME` as it leaves it: `status_code`,
/// `content_type`, `body` and, for a JSON object or array (of a JSON or unnamed content type),
/// `parsed`, as Studio parses only JSON. A body over Studio's 64 kB is a failure.
fn http_answer(status: u16, content_type: Option<String>, body: String) -> (bool, Value) {
    if body.len() > MAX_HTTP_RESPONSE_BYTES {
        let error = format!("the response is larger than {MAX_HTTP_RESPONSE_BYTES} bytes");
        return (false, json!({"status_code": status, "error": error}));
    }
    let json_type = content_type.as_deref().is_none_or(|t| t.to_ascii_lowercase().contains("json"));
    let parsed = serde_json::from_str::<Value>(&body)
        .ok()
        .filter(|v| json_type && (v.is_object() || v.is_array()));
    let output = json!({"status_code": status, "content_type": content_type,
                        "body": body, "parsed": parsed});
    ((200..300).contains(&status), output)
}

fn start(
    state: &ExecutionState,
    definition: &ValidDefinition,
    at: Timestamp,
    input: ExecutionInput,
) -> Decided {
    let ExecutionInput::Start {
        execution_sid,
        flow_sid,
        revision,
        trigger_event,
        trigger,
        data,
        flow_address,
        limits,
    } = input
    else {
        return Ok(Vec::new());
    };
    if state.sid.is_some() {
        return Err(ExecutionRejection::AlreadyStarted);
    }
    check_limits(limits)?;
    let trigger = context_text(&trigger, "trigger", limits)?;
    let data = if data.is_null() { "{}".to_owned() } else { context_text(&data, "data", limits)? };
    let mut run = Runner::new(state, definition, at);
    run.emit(ExecutionEvent::ExecutionStarted {
        execution_sid,
        flow_sid,
        revision,
        trigger,
        data,
        flow_address,
        limits,
    });
    let (_, trigger_state) = definition.trigger();
    let next = trigger_state.next(&trigger_event).map(str::to_owned);
    run.walk(trigger_state.name.clone(), trigger_event, next);
    Ok(run.events)
}

fn check_limits(limits: Limits) -> Result<(), ExecutionRejection> {
    if !(1..=MAX_STEPS_LIMIT).contains(&limits.max_steps) {
        return Err(ExecutionRejection::Invalid(format!(
            "max_steps must be from 1 to {MAX_STEPS_LIMIT}"
        )));
    }
    if !(1024..=MAX_CONTEXT_BYTES_LIMIT).contains(&limits.max_context_bytes) {
        return Err(ExecutionRejection::Invalid(format!(
            "max_context_bytes must be from 1024 to {MAX_CONTEXT_BYTES_LIMIT}"
        )));
    }
    Ok(())
}

/// A start's JSON object as stored, refused when not an object or over the context limit.
fn context_text(value: &Value, what: &str, limits: Limits) -> Result<String, ExecutionRejection> {
    if !value.is_object() {
        return Err(ExecutionRejection::Invalid(format!(
            "the {what} context must be a JSON object"
        )));
    }
    let text = value.to_string();
    if text.len() > limits.max_context_bytes as usize {
        return Err(ExecutionRejection::Invalid(format!(
            "the {what} context is {} bytes, more than the execution's {}",
            text.len(),
            limits.max_context_bytes
        )));
    }
    Ok(text)
}

/// `url` with `query` (form-encoded) added to its query string.
fn with_query(url: String, query: &str) -> String {
    if query.is_empty() {
        return url;
    }
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{query}")
}

/// Where a widget leaves the execution.
enum Next {
    /// Follow `event` to `next` (`None`: the flow ends there).
    Go { event: String, next: Option<String> },
    /// Wait for the world (or the execution ended or failed).
    Stop,
}

impl Next {
    fn follow(state: &State, event: &str) -> Next {
        Next::Go { event: event.to_owned(), next: state.next(event).map(str::to_owned) }
    }
}

struct Runner<'a> {
    definition: &'a ValidDefinition,
    /// The state with this command's events folded in so far, but its context…
    state: ExecutionState,
    /// …which is kept here, parsed once per command.
    context: Value,
    at: Timestamp,
    events: Vec<ExecutionEvent>,
    /// (widget, context) fingerprints entered during this command, to see a loop.
    entered: HashSet<u64>,
}

impl<'a> Runner<'a> {
    fn new(state: &ExecutionState, definition: &'a ValidDefinition, at: Timestamp) -> Runner<'a> {
        let context = state.context();
        let state = state.clone();
        Runner { definition, state, context, at, events: Vec::new(), entered: HashSet::new() }
    }

    /// Records `event`, folds it in, and fails the execution if its context grew too large.
    fn emit(&mut self, event: ExecutionEvent) {
        let grows = matches!(
            event,
            ExecutionEvent::WidgetOutput { .. } | ExecutionEvent::VariablesSet { .. }
        );
        self.push(event);
        let limit = self.state.limits.max_context_bytes as usize;
        if grows && json_len(&self.context) > limit {
            self.fail(format!("the execution's context grew past its limit of {limit} bytes"));
        }
    }

    fn push(&mut self, event: ExecutionEvent) {
        self.state.apply_except_context(self.at, &event);
        match &event {
            ExecutionEvent::ExecutionStarted { .. } => self.context = initial_context(&event),
            _ => fold_context(&mut self.context, &event),
        }
        self.events.push(event);
    }

    fn fail(&mut self, reason: String) {
        if self.state.is_active() {
            self.push(ExecutionEvent::ExecutionFailed { reason });
        }
    }

    fn execution_sid(&self) -> Sid {
        // Every runner after the start has its SID; the start's first event set it.
        self.state.sid.unwrap_or(Sid::from_parts(SidPrefix::STUDIO_EXECUTION, [0; 16]))
    }

    /// Enters widgets from `from`'s `event` until one waits or the execution ends.
    fn walk(&mut self, mut from: String, mut event: String, mut next: Option<String>) {
        let definition = self.definition;
        while self.state.is_active() {
            let Some(name) = next else {
                let reason = format!("the flow ended at '{from}' on '{event}'");
                return self.push(ExecutionEvent::ExecutionEnded { reason });
            };
            if self.state.steps >= self.state.limits.max_steps {
                let limit = self.state.limits.max_steps;
                return self.fail(format!(
                    "the execution reached its limit of {limit} steps before '{name}'"
                ));
            }
            let Some((widget, state)) = definition.widget(&name) else {
                return self.fail(format!("'{from}' leads to '{name}', which is not a state"));
            };
            if !self.entered.insert(self.fingerprint(&name)) {
                return self.fail(format!(
                    "the flow loops without waiting: it came back to '{name}' with nothing changed"
                ));
            }
            let step = step_sid(self.execution_sid(), self.state.steps);
            self.push(ExecutionEvent::StepEntered {
                step_sid: step,
                name: name.clone(),
                widget_type: widget.widget_type.clone(),
                transitioned_from: from,
                event,
            });
            match self.enter(widget, state, step) {
                Next::Go { event: e, next: n } => (from, event, next) = (name, e, n),
                Next::Stop => return,
            }
        }
    }

    fn fingerprint(&self, name: &str) -> u64 {
        // `DefaultHasher::new` has fixed keys: the same inputs hash the same in every run.
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        // The context's JSON text fed to the hasher as it is written, not built first.
        let _ = serde_json::to_writer(HashWriter(&mut hasher), &self.context);
        hasher.finish()
    }

    /// Renders one property, failing the execution (naming state and property) if it cannot.
    fn render(&mut self, template: &Template, state: &str, property: &str) -> Option<String> {
        match template.render(&self.context) {
            Ok(text) => Some(text),
            Err(e) => {
                self.fail(format!("state '{state}': property '{property}': {e}"));
                None
            }
        }
    }

    fn enter(&mut self, widget: &Widget, state: &State, step: Sid) -> Next {
        let name = widget.name.as_str();
        match &widget.kind {
            WidgetKind::Trigger => {
                self.fail(format!("the flow leads back to its trigger '{name}'"));
                Next::Stop
            }
            WidgetKind::SendMessage { body } => {
                if let Some(body) = self.render(body, name, "body") {
                    self.push(ExecutionEvent::MessageRequested { step_sid: step, body });
                }
                Next::Stop
            }
            WidgetKind::SendAndWait { body, timeout_secs } => {
                if let Some(body) = self.render(body, name, "body") {
                    self.push(ExecutionEvent::MessageRequested { step_sid: step, body });
                    let millis =
                        i64::try_from(timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                    let deadline = Timestamp(self.at.0.saturating_add(millis));
                    self.push(ExecutionEvent::WaitingForReply { step_sid: step, deadline });
                }
                Next::Stop
            }
            WidgetKind::Split { input, cases } => self.split(name, state, input, cases),
            WidgetKind::SetVariables { variables } => {
                let mut set = Vec::with_capacity(variables.len());
                for (key, value) in variables {
                    let Some(text) = self.render(value, name, &format!("variables.{key}")) else {
                        return Next::Stop;
                    };
                    set.push((key.clone(), text));
                }
                self.emit(ExecutionEvent::VariablesSet { variables: set });
                Next::follow(state, "next")
            }
            WidgetKind::Http(http) => self.http(name, state, http, step),
            WidgetKind::SendToFlex(flex) => self.flex(name, state, flex, step),
        }
    }

    fn split(&mut self, name: &str, state: &State, input: &Template, cases: &[Case]) -> Next {
        let Some(input) = self.render(input, name, "input") else { return Next::Stop };
        for (at, case) in cases.iter().enumerate() {
            match self.case_holds(name, at, case, &input) {
                Some(true) => return Next::Go { event: "match".into(), next: case.next.clone() },
                Some(false) => {}
                None => return Next::Stop,
            }
        }
        Next::follow(state, "noMatch")
    }

    /// Whether every condition of `case` holds; `None` when the execution failed evaluating.
    fn case_holds(&mut self, name: &str, at: usize, case: &Case, input: &str) -> Option<bool> {
        for (c, condition) in case.conditions.iter().enumerate() {
            let property = format!("match {at}: conditions[{c}].value");
            let value = self.render(&condition.value, name, &property)?;
            match condition.condition_type.holds(input, &value, condition.regex.as_ref()) {
                Ok(true) => {}
                Ok(false) => return Some(false),
                Err(e) => {
                    self.fail(format!("state '{name}': property '{property}': {e}"));
                    return None;
                }
            }
        }
        Some(true)
    }

    fn http(&mut self, name: &str, state: &State, http: &HttpWidget, step: Sid) -> Next {
        let Some(url) = self.render(&http.url, name, "url") else { return Next::Stop };
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &http.parameters {
            let Some(text) = self.render(value, name, &format!("parameters.{key}")) else {
                return Next::Stop;
            };
            form.append_pair(key, &text);
        }
        let form = form.finish();
        let json_body = match &http.body {
            Some(body) if http.content_type == ContentType::Json => {
                let Some(text) = self.render(body, name, "body") else { return Next::Stop };
                text
            }
            _ => String::new(),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            let output = json!({"error": format!("the URL {url:?} is not an http or https URL")});
            self.emit(ExecutionEvent::WidgetOutput {
                name: name.into(),
                output: output.to_string(),
            });
            return Next::follow(state, http.failure_event);
        }
        let (url, body, content_type) = match (http.method, http.content_type) {
            (HttpMethod::Get, _) => (with_query(url, &form), String::new(), None),
            (HttpMethod::Post, ContentType::Form) => {
                (url, form, Some("application/x-www-form-urlencoded"))
            }
            // A JSON body leaves the parameters to the URL's query.
            (HttpMethod::Post, ContentType::Json) => {
                (with_query(url, &form), json_body, Some("application/json"))
            }
        };
        let idempotency_key = step.to_string();
        let mut headers = vec![("Idempotency-Key".to_owned(), idempotency_key.clone())];
        if let Some(content_type) = content_type {
            headers.insert(0, ("Content-Type".to_owned(), content_type.to_owned()));
        }
        let method = http.method.as_str().to_owned();
        let request = ExecutionEvent::HttpRequested {
            step_sid: step,
            method,
            url,
            headers,
            body,
            idempotency_key,
        };
        self.push(request);
        Next::Stop
    }

    fn flex(&mut self, name: &str, state: &State, flex: &FlexWidget, step: Sid) -> Next {
        let Some(workflow) = self.render(&flex.workflow, name, "workflow") else {
            return Next::Stop;
        };
        let Some(channel) = self.render(&flex.channel, name, "channel") else { return Next::Stop };
        let attributes = match &flex.attributes {
            Some(template) => match self.render(template, name, "attributes") {
                Some(text) => text,
                None => return Next::Stop,
            },
            None => "{}".to_owned(),
        };
        let mut optional = |t: &Option<Template>, p: &str| match t {
            Some(t) => self.render(t, name, p).map(Some),
            None => Some(None),
        };
        let Some(priority) = optional(&flex.priority, "priority") else { return Next::Stop };
        let Some(timeout) = optional(&flex.timeout, "timeout") else { return Next::Stop };
        let attributes = match serde_json::from_str::<Value>(&attributes) {
            Ok(value @ Value::Object(_)) => value.to_string(),
            _ => {
                let error = format!("the attributes did not render to a JSON object: {attributes}");
                let output = json!({"error": error});
                self.emit(ExecutionEvent::WidgetOutput {
                    name: name.into(),
                    output: output.to_string(),
                });
                return Next::follow(state, "failedToEnqueue");
            }
        };
        self.push(ExecutionEvent::FlexTaskRequested {
            step_sid: step,
            workflow,
            channel,
            attributes,
            priority,
            timeout,
        });
        let reason = format!("sent to Flex by '{name}'");
        self.push(ExecutionEvent::ExecutionEnded { reason });
        Next::Stop
    }

    /// Continues from the waiting widget `name` on `event`.
    fn resume(&mut self, name: &str, event: &str) {
        let definition = self.definition;
        match definition.widget(name) {
            Some((_, state)) => {
                let next = state.next(event).map(str::to_owned);
                self.walk(name.to_owned(), event.to_owned(), next)
            }
            None => self.fail(format!(
                "the definition given has no state '{name}': it is not the execution's revision"
            )),
        }
    }

    fn reply(
        &mut self,
        body: String,
        from: String,
        message: Option<(String, u64)>,
    ) -> Result<(), ExecutionRejection> {
        let Some(Waiting::Reply { name, .. }) = self.state.waiting.clone() else {
            return Err(ExecutionRejection::NotWaitingForReply);
        };
        let mut output = json!({"inbound": {"Body": body, "From": from}});
        if let Some((sid, index)) = message {
            output["inbound"]["MessageSid"] = Value::String(sid);
            output["inbound"]["Index"] = Value::from(index);
        }
        self.emit(ExecutionEvent::WidgetOutput { name: name.clone(), output: output.to_string() });
        if self.state.is_active() {
            self.resume(&name, "incomingMessage");
        }
        Ok(())
    }

    fn timeout(&mut self) -> Result<(), ExecutionRejection> {
        let Some(Waiting::Reply { name, deadline, .. }) = self.state.waiting.clone() else {
            return Err(ExecutionRejection::NotWaitingForReply);
        };
        if self.at < deadline {
            return Err(ExecutionRejection::NotDue(deadline));
        }
        self.resume(&name, "timeout");
        Ok(())
    }

    fn message_outcome(&mut self, step: Sid, sent: bool, error: Option<String>) {
        let (name, event) = match self.state.waiting.clone() {
            Some(Waiting::MessageOutcome { step_sid, name }) if step_sid == step => {
                (name, if sent { "sent" } else { "failed" })
            }
            Some(Waiting::Reply { step_sid, name, .. }) if step_sid == step && !sent => {
                (name, "deliveryFailure")
            }
            _ => return,
        };
        if !sent {
            let output = json!({"error": error.unwrap_or_else(|| "not delivered".into())});
            self.emit(ExecutionEvent::WidgetOutput {
                name: name.clone(),
                output: output.to_string(),
            });
        }
        if self.state.is_active() {
            self.resume(&name, event);
        }
    }

    fn http_outcome(&mut self, step: Sid, success: bool, output: Value) {
        let Some(Waiting::Http { step_sid, name }) = self.state.waiting.clone() else { return };
        if step_sid != step {
            return;
        }
        let failure = match self.definition.widget(&name) {
            Some((Widget { kind: WidgetKind::Http(http), .. }, _)) => http.failure_event,
            _ => "failed",
        };
        let output = match output {
            // `parsed` only when the answer was JSON, as in Studio.
            Value::Object(mut map) => {
                map.retain(|_, v| !v.is_null());
                Value::Object(map)
            }
            other => other,
        };
        self.emit(ExecutionEvent::WidgetOutput { name: name.clone(), output: output.to_string() });
        if self.state.is_active() {
            self.resume(&name, if success { "success" } else { failure });
        }
    }
}

/// The length of `value`'s JSON text, counted as it is written rather than built.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Feeds JSON text to a hasher as it is written.
struct HashWriter<'h>(&'h mut DefaultHasher);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use switchboard_domain::{Aggregate, Recorded};

    use super::*;
    use crate::{validate, Definition};

    /// A flow of the trigger and `state`, which the trigger leads to.
    fn one_widget(state: Value) -> Arc<ValidDefinition> {
        let text = json!({"states": [
            {"name": "Trigger", "type": "trigger",
             "transitions": [{"event": "incomingMessage", "next": "w"}]},
            state,
            {"name": "after", "type": "send-message", "properties": {"body": "after {{widgets.w.error}}"}}
        ], "initial_state": "Trigger"});
        let definition: Definition = serde_json::from_value(text).unwrap();
        Arc::new(validate(&definition).unwrap())
    }

    fn started(definition: &Arc<ValidDefinition>) -> (ExecutionState, Vec<ExecutionEvent>) {
        let mut state = ExecutionState::default();
        let events = state.decide(command(definition, start_input())).unwrap();
        for event in &events {
            state.apply(&Recorded::new(Timestamp(1), event.clone()));
        }
        (state, events)
    }

    fn start_input() -> ExecutionInput {
        ExecutionInput::Start {
            execution_sid: Sid::from_parts(SidPrefix::STUDIO_EXECUTION, [3; 16]),
            flow_sid: Sid::from_parts(SidPrefix::STUDIO_FLOW, [1; 16]),
            revision: 2,
            trigger_event: "incomingMessage".into(),
            trigger: json!({"message": {"Body": "hi", "From": "+1555"}}),
            data: Value::Null,
            flow_address: "+1500".into(),
            limits: Limits::default(),
        }
    }

    fn command(definition: &Arc<ValidDefinition>, input: ExecutionInput) -> ExecutionCommand {
        ExecutionCommand { definition: definition.clone(), at: Timestamp(1), input }
    }

    #[test]
    fn step_sids_are_derived_from_the_execution_and_the_step_number() {
        let execution = Sid::from_parts(SidPrefix::STUDIO_EXECUTION, [3; 16]);
        let (first, second) = (step_sid(execution, 0), step_sid(execution, 1));
        assert_eq!(first.prefix(), SidPrefix::STUDIO_STEP);
        assert_ne!(first, second);
        // Executions one channel's messages start share their first id bytes; their steps
        // must not share SIDs (they name bot messages and tasks, deduplicated by SID).
        let mut same_channel = execution.id();
        same_channel[15] = 4;
        let sibling = Sid::from_parts(SidPrefix::STUDIO_EXECUTION, same_channel);
        assert_ne!(step_sid(sibling, 0), first);
        assert_eq!(step_sid(execution, 0), first, "derived, so a repeat names the same step");
        let definition =
            one_widget(json!({"name": "w", "type": "send-message", "properties": {"body": "x"}}));
        let (_, events) = started(&definition);
        assert!(
            matches!(&events[1], ExecutionEvent::StepEntered { step_sid, .. } if *step_sid == first)
        );
    }

    #[test]
    fn a_start_is_checked_and_happens_once() {
        let definition =
            one_widget(json!({"name": "w", "type": "send-message", "properties": {"body": "x"}}));
        let (state, _) = started(&definition);
        let again = state.decide(command(&definition, start_input()));
        assert_eq!(again.unwrap_err(), ExecutionRejection::AlreadyStarted);
        let fresh = ExecutionState::default();
        let mut bad = start_input();
        if let ExecutionInput::Start { trigger, limits, .. } = &mut bad {
            *trigger = json!("text");
            limits.max_steps = 0;
        }
        assert!(matches!(
            fresh.decide(command(&definition, bad)),
            Err(ExecutionRejection::Invalid(_))
        ));
        let reply = ExecutionInput::Reply { body: "x".into(), from: "y".into(), message: None };
        assert_eq!(
            fresh.decide(command(&definition, reply)).unwrap_err(),
            ExecutionRejection::NotFound
        );
    }

    #[test]
    fn a_get_puts_its_parameters_in_the_query_and_a_bad_url_follows_failed() {
        let get = one_widget(json!({"name": "w", "type": "make-http-request",
            "transitions": [{"event": "failed", "next": "after"}],
            "properties": {"method": "GET", "url": "{{flow.variables.base}}https://api.example.com/x?a=1",
                           "parameters": [{"key": "from", "value": "{{trigger.message.From}}"}]}}));
        let (_, events) = started(&get);
        let Some(ExecutionEvent::HttpRequested { url, body, headers, .. }) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(url, "https://api.example.com/x?a=1&from=%2B1555");
        assert!(body.is_empty() && headers.len() == 1, "a GET has no body: {headers:?}");
        let bad = one_widget(json!({"name": "w", "type": "make-http-request",
            "transitions": [{"event": "failed", "next": "after"}],
            "properties": {"method": "POST", "url": "ftp://{{trigger.message.From}}"}}));
        let (state, _) = started(&bad);
        assert_eq!(state.current.as_ref().map(|c| c.1.as_str()), Some("after"));
        assert!(state.context()["widgets"]["w"]["error"].as_str().unwrap().contains("ftp://+1555"));
    }

    #[test]
    fn attributes_that_are_no_json_object_follow_failed_to_enqueue() {
        let flex = one_widget(json!({"name": "w", "type": "send-to-flex",
            "transitions": [{"event": "failedToEnqueue", "next": "after"}],
            "properties": {"workflow": "WW1", "channel": "TC1",
                           "attributes": "{\"name\": {{trigger.message.Body}}}"}}));
        let (state, events) = started(&flex);
        assert!(!events.iter().any(|e| matches!(e, ExecutionEvent::FlexTaskRequested { .. })));
        let Some(ExecutionEvent::MessageRequested { body, .. }) = events.last() else { panic!() };
        assert!(body.starts_with("after the attributes did not render to a JSON object"), "{body}");
        assert!(state.is_active());
    }

    #[test]
    fn end_stops_an_execution_and_a_missing_state_fails_it() {
        let definition = one_widget(json!({"name": "w", "type": "send-and-wait-for-reply",
            "transitions": [{"event": "incomingMessage", "next": "after"}],
            "properties": {"body": "?"}}));
        let (state, _) = started(&definition);
        let ended = state.decide(command(&definition, ExecutionInput::End)).unwrap();
        assert_eq!(ended, [ExecutionEvent::ExecutionEnded { reason: "ended by request".into() }]);
        let text =
            json!({"states": [{"name": "Trigger", "type": "trigger"}], "initial_state": "Trigger"});
        let other = Arc::new(validate(&serde_json::from_value(text).unwrap()).unwrap());
        let reply = ExecutionInput::Reply { body: "x".into(), from: "y".into(), message: None };
        let events = state.decide(command(&other, reply)).unwrap();
        let Some(ExecutionEvent::ExecutionFailed { reason }) = events.last() else { panic!() };
        assert!(reason.contains("not the execution's revision"), "{reason}");
    }

    #[test]
    fn a_deleted_execution_ends_first_and_then_takes_nothing() {
        let definition = one_widget(json!({"name": "w", "type": "send-and-wait-for-reply",
            "transitions": [{"event": "incomingMessage", "next": "after"}],
            "properties": {"body": "?"}}));
        let (mut state, _) = started(&definition);
        let deleted = state.decide(command(&definition, ExecutionInput::Delete)).unwrap();
        let ended = ExecutionEvent::ExecutionEnded { reason: "deleted".into() };
        assert_eq!(deleted, [ended, ExecutionEvent::ExecutionDeleted]);
        for event in deleted {
            state.apply(&Recorded::new(Timestamp(2), event));
        }
        assert!(!state.is_shown() && !state.is_active());
        assert_eq!(state.status, crate::ExecutionStatus::Ended);
        for input in [ExecutionInput::End, ExecutionInput::Delete, ExecutionInput::Timeout] {
            let refused = state.decide(command(&definition, input));
            assert_eq!(refused, Err(ExecutionRejection::NotFound));
        }
    }
}
