//! Checks a definition the way Studio's `Flows/Validate` does and compiles it for running:
//! every template parsed once, every literal regex compiled once. Each error names the state and
//! the property (`state 'ask_name': property 'timeout': expected a number of seconds`), and all
//! errors are reported at once, so a flow is fixed in one round.
//!
//! Unknown transition events are kept, not refused: Studio's exports carry events of channels
//! this server does not run (`incomingCall`, `incomingParent`), and refusing them would refuse
//! the teams' own files. Unknown properties are kept too (the editor's `offset`, `service`).

use std::collections::{HashMap, HashSet};
use std::fmt;

use regex::Regex;
use serde_json::{Map, Value};

use crate::split::{compile_regex, ConditionType};
use crate::{Definition, State, Template};

/// The widget types this server runs.
pub const SUPPORTED_WIDGETS: [&str; 8] = [
    "trigger",
    "send-message",
    "send-and-wait-for-reply",
    "split-based-on",
    "set-variables",
    "make-http-request",
    "send-to-flex",
    "run-function",
];

/// How long `send-and-wait-for-reply` waits when the definition does not say: Studio's default.
pub const DEFAULT_REPLY_TIMEOUT_SECS: u64 = 3600;
/// The longest wait for a reply: Studio allows up to a week.
pub const MAX_REPLY_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// The most widgets a definition may have.
pub const MAX_STATES: usize = 1000;

/// One problem of a definition, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The state's name; `None` for the definition as a whole.
    pub state: Option<String>,
    /// The property (`timeout`, `variables[0].key`, `transitions[1].next`), if one.
    pub property: Option<String>,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(state) = &self.state {
            write!(f, "state '{state}': ")?;
        }
        if let Some(property) = &self.property {
            write!(f, "property '{property}': ")?;
        }
        f.write_str(&self.message)
    }
}

/// An HTTP method `make-http-request` may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// How `make-http-request` sends its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// `application/x-www-form-urlencoded`: the `parameters` (a GET puts them in the query).
    Form,
    /// `application/json`: the `body` template.
    Json,
}

/// One `match` transition of a split, compiled.
#[derive(Debug)]
pub struct Case {
    pub next: Option<String>,
    /// All must hold for the case to be taken.
    pub conditions: Vec<CompiledCondition>,
}

/// One condition, compiled: its value parsed as a template, a literal regex compiled.
#[derive(Debug)]
pub struct CompiledCondition {
    pub condition_type: ConditionType,
    pub value: Template,
    pub regex: Option<Regex>,
}

/// What a widget does, with its templates parsed.
#[derive(Debug)]
pub enum WidgetKind {
    Trigger,
    SendMessage { body: Template },
    SendAndWait { body: Template, timeout_secs: u64 },
    Split { input: Template, cases: Vec<Case> },
    SetVariables { variables: Vec<(String, Template)> },
    Http(HttpWidget),
    SendToFlex(FlexWidget),
}

/// `make-http-request`, and `run-function` (a POST of its parameters as a form to its `url`).
#[derive(Debug)]
pub struct HttpWidget {
    pub method: HttpMethod,
    pub url: Template,
    pub content_type: ContentType,
    pub body: Option<Template>,
    pub parameters: Vec<(String, Template)>,
    /// `run-function` fires `fail` where `make-http-request` fires `failed`.
    pub failure_event: &'static str,
}

/// `send-to-flex`'s settings.
#[derive(Debug)]
pub struct FlexWidget {
    pub workflow: Template,
    pub channel: Template,
    pub attributes: Option<Template>,
    pub priority: Option<Template>,
    pub timeout: Option<Template>,
}

/// One widget of a valid definition.
#[derive(Debug)]
pub struct Widget {
    pub name: String,
    pub widget_type: String,
    pub kind: WidgetKind,
}

/// A definition that passed [`validate`], compiled for running. Shared by every execution of
/// its revision (behind an `Arc` in the layer that runs them).
#[derive(Debug)]
pub struct ValidDefinition {
    definition: Definition,
    widgets: Vec<Widget>,
    by_name: HashMap<String, usize>,
    trigger: usize,
}

impl ValidDefinition {
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// The widget named `name` and its state (transitions).
    pub fn widget(&self, name: &str) -> Option<(&Widget, &State)> {
        let at = *self.by_name.get(name)?;
        Some((&self.widgets[at], &self.definition.states[at]))
    }

    /// The trigger (the initial state).
    pub fn trigger(&self) -> (&Widget, &State) {
        (&self.widgets[self.trigger], &self.definition.states[self.trigger])
    }
}

/// Checks `definition`, returning it compiled or every problem found.
pub fn validate(definition: &Definition) -> Result<ValidDefinition, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let whole = |message: String| ValidationError { state: None, property: None, message };
    if definition.states.len() > MAX_STATES {
        errors.push(whole(format!("more than {MAX_STATES} states")));
    }
    let mut by_name = HashMap::new();
    for (at, state) in definition.states.iter().enumerate() {
        if state.name.trim().is_empty() {
            errors.push(whole(format!("state {at} has no name")));
        }
        if by_name.insert(state.name.clone(), at).is_some() {
            errors.push(whole(format!("two states are named '{}'", state.name)));
        }
    }
    let trigger = check_trigger(definition, &by_name, &mut errors);
    let names: HashSet<&str> = by_name.keys().map(String::as_str).collect();
    let mut widgets = Vec::with_capacity(definition.states.len());
    for state in &definition.states {
        let mut problems = Problems { state: &state.name, errors: &mut errors };
        check_transitions(state, &names, &mut problems);
        if let Some(kind) = compile_widget(state, &mut problems) {
            let widget_type = state.widget_type.clone();
            widgets.push(Widget { name: state.name.clone(), widget_type, kind });
        }
    }
    match trigger {
        Some(trigger) if errors.is_empty() => {
            Ok(ValidDefinition { definition: definition.clone(), widgets, by_name, trigger })
        }
        _ => Err(errors),
    }
}

/// Parses and validates Studio's JSON text in one go.
pub fn validate_json(text: &str) -> Result<ValidDefinition, Vec<ValidationError>> {
    let definition = Definition::parse(text).map_err(|e| {
        vec![ValidationError { state: None, property: None, message: e.to_string() }]
    })?;
    validate(&definition)
}

/// The initial state must exist and be the one trigger.
fn check_trigger(
    definition: &Definition,
    by_name: &HashMap<String, usize>,
    errors: &mut Vec<ValidationError>,
) -> Option<usize> {
    let mut whole = |message: String| {
        errors.push(ValidationError { state: None, property: None, message });
    };
    let triggers = definition.states.iter().filter(|s| s.widget_type == "trigger").count();
    if triggers != 1 {
        whole(format!("a flow has exactly one state of type 'trigger', this one has {triggers}"));
    }
    let Some(&at) = by_name.get(&definition.initial_state) else {
        whole(format!("initial_state '{}' is not a state", definition.initial_state));
        return None;
    };
    if definition.states[at].widget_type != "trigger" {
        whole(format!("initial_state '{}' is not the trigger", definition.initial_state));
        return None;
    }
    Some(at)
}

/// Errors of one state, each naming it.
struct Problems<'a> {
    state: &'a str,
    errors: &'a mut Vec<ValidationError>,
}

impl Problems<'_> {
    fn property(&mut self, property: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            state: Some(self.state.to_owned()),
            property: Some(property.into()),
            message: message.into(),
        });
    }

    fn state(&mut self, message: impl Into<String>) {
        self.errors.push(ValidationError {
            state: Some(self.state.to_owned()),
            property: None,
            message: message.into(),
        });
    }
}

fn check_transitions(state: &State, names: &HashSet<&str>, problems: &mut Problems<'_>) {
    for (at, transition) in state.transitions.iter().enumerate() {
        if let Some(next) = &transition.next {
            if !names.contains(next.as_str()) {
                problems.property(
                    format!("transitions[{at}].next"),
                    format!(
                        "transition '{}' leads to '{next}', which is not a state",
                        transition.event
                    ),
                );
            }
        }
    }
}

fn compile_widget(state: &State, problems: &mut Problems<'_>) -> Option<WidgetKind> {
    let props = &state.properties;
    let kind = match state.widget_type.as_str() {
        "trigger" => WidgetKind::Trigger,
        "send-message" => WidgetKind::SendMessage { body: required(props, "body", problems)? },
        "send-and-wait-for-reply" => {
            let body = required(props, "body", problems);
            let timeout_secs = reply_timeout(props, problems);
            WidgetKind::SendAndWait { body: body?, timeout_secs: timeout_secs? }
        }
        "split-based-on" => compile_split(state, problems)?,
        "set-variables" => {
            WidgetKind::SetVariables { variables: pairs(props, "variables", problems)? }
        }
        "make-http-request" => WidgetKind::Http(compile_http(props, problems)?),
        "run-function" => WidgetKind::Http(compile_function(props, problems)?),
        "send-to-flex" => WidgetKind::SendToFlex(compile_flex(props, problems)?),
        other => {
            problems.state(format!(
                "widget type '{other}' is not supported (supported: {})",
                SUPPORTED_WIDGETS.join(", ")
            ));
            return None;
        }
    };
    Some(kind)
}

/// A property that must be a template.
fn required(
    props: &Map<String, Value>,
    key: &str,
    problems: &mut Problems<'_>,
) -> Option<Template> {
    match props.get(key) {
        None | Some(Value::Null) => {
            problems.property(key, "is required");
            None
        }
        Some(value) => template(value, key, problems),
    }
}

/// A property that may be a template; `Some(None)` when absent.
fn optional(
    props: &Map<String, Value>,
    key: &str,
    problems: &mut Problems<'_>,
) -> Option<Option<Template>> {
    match props.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(value) => template(value, key, problems).map(Some),
    }
}

/// A template from a string (a number or a boolean is taken as its text, as the editor does).
fn template(value: &Value, property: &str, problems: &mut Problems<'_>) -> Option<Template> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => {
            problems.property(property, "expected a string");
            return None;
        }
    };
    Template::parse(&text)
        .map_err(|e| problems.property(property, format!("the template does not parse: {e}")))
        .ok()
}

fn reply_timeout(props: &Map<String, Value>, problems: &mut Problems<'_>) -> Option<u64> {
    let secs = match props.get("timeout") {
        None | Some(Value::Null) => return Some(DEFAULT_REPLY_TIMEOUT_SECS),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(text)) => text.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    match secs {
        Some(secs) if (1..=MAX_REPLY_TIMEOUT_SECS).contains(&secs) => Some(secs),
        _ => {
            problems.property(
                "timeout",
                format!("expected a number of seconds from 1 to {MAX_REPLY_TIMEOUT_SECS}"),
            );
            None
        }
    }
}

/// `[{key, value}]` lists (`variables`, `parameters`), values parsed as templates.
fn pairs(
    props: &Map<String, Value>,
    key: &str,
    problems: &mut Problems<'_>,
) -> Option<Vec<(String, Template)>> {
    let items = match props.get(key) {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.property(key, "expected a list of {key, value}");
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (at, item) in items.iter().enumerate() {
        let name = item.get("key").and_then(Value::as_str).filter(|k| !k.trim().is_empty());
        let Some(name) = name else {
            problems.property(format!("{key}[{at}].key"), "expected a non-empty string");
            ok = false;
            continue;
        };
        let value = item.get("value").cloned().unwrap_or(Value::String(String::new()));
        match template(&value, &format!("{key}[{at}].value"), problems) {
            Some(t) => out.push((name.to_owned(), t)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn compile_split(state: &State, problems: &mut Problems<'_>) -> Option<WidgetKind> {
    let input = required(&state.properties, "input", problems);
    let mut cases = Vec::new();
    let mut ok = true;
    for (at, transition) in state.transitions.iter().enumerate() {
        if transition.event != "match" {
            continue;
        }
        let conditions = transition.conditions.as_deref().unwrap_or_default();
        if conditions.is_empty() {
            problems.property(format!("transitions[{at}].conditions"), "a match needs conditions");
            ok = false;
        }
        let mut compiled = Vec::with_capacity(conditions.len());
        for (c, condition) in conditions.iter().enumerate() {
            let path = format!("transitions[{at}].conditions[{c}]");
            match compile_condition(condition, &path, problems) {
                Some(done) => compiled.push(done),
                None => ok = false,
            }
        }
        cases.push(Case { next: transition.next.clone(), conditions: compiled });
    }
    let input = input?;
    ok.then_some(WidgetKind::Split { input, cases })
}

fn compile_condition(
    condition: &crate::Condition,
    path: &str,
    problems: &mut Problems<'_>,
) -> Option<CompiledCondition> {
    let Some(condition_type) = ConditionType::parse(&condition.condition_type) else {
        let known: Vec<&str> = ConditionType::ALL.iter().map(|(_, n)| *n).collect();
        problems.property(
            format!("{path}.type"),
            format!(
                "'{}' is not a condition type ({})",
                condition.condition_type,
                known.join(", ")
            ),
        );
        return None;
    };
    let value_path = format!("{path}.value");
    let value = match &condition.value {
        None | Some(Value::Null) if condition_type.needs_value() => {
            problems.property(value_path, "is required for this condition type");
            return None;
        }
        None | Some(Value::Null) => Template::Literal(String::new()),
        Some(value) => template(value, &value_path, problems)?,
    };
    let regex = match (&value, condition_type) {
        (Template::Literal(pattern), ConditionType::Regex) => match compile_regex(pattern) {
            Ok(regex) => Some(regex),
            Err(e) => {
                problems.property(value_path, format!("the regex does not compile: {e}"));
                return None;
            }
        },
        _ => None,
    };
    Some(CompiledCondition { condition_type, value, regex })
}

fn compile_http(props: &Map<String, Value>, problems: &mut Problems<'_>) -> Option<HttpWidget> {
    let method = match props.get("method").and_then(Value::as_str).map(str::to_ascii_uppercase) {
        Some(m) if m == "GET" => Some(HttpMethod::Get),
        Some(m) if m == "POST" => Some(HttpMethod::Post),
        _ => {
            problems.property("method", "expected GET or POST");
            None
        }
    };
    let content_type = match props.get("content_type").and_then(Value::as_str) {
        None => Some(ContentType::Form),
        Some(t) if t.starts_with("application/x-www-form-urlencoded") => Some(ContentType::Form),
        Some(t) if t.starts_with("application/json") => Some(ContentType::Json),
        Some(_) => {
            problems.property(
                "content_type",
                "expected application/x-www-form-urlencoded or application/json",
            );
            None
        }
    };
    let url = required(props, "url", problems);
    let body = optional(props, "body", problems);
    let parameters = pairs(props, "parameters", problems);
    Some(HttpWidget {
        method: method?,
        url: url?,
        content_type: content_type?,
        body: body?,
        parameters: parameters?,
        failure_event: "failed",
    })
}

/// `run-function`: Studio calls the Function at its `url` with the parameters as a form.
fn compile_function(props: &Map<String, Value>, problems: &mut Problems<'_>) -> Option<HttpWidget> {
    let has_url = props.get("url").and_then(Value::as_str).is_some_and(|u| !u.trim().is_empty());
    if !has_url {
        problems.property("url", "expected the Function's URL");
        return None;
    }
    let url = required(props, "url", problems);
    let parameters = pairs(props, "parameters", problems);
    Some(HttpWidget {
        method: HttpMethod::Post,
        url: url?,
        content_type: ContentType::Form,
        body: None,
        parameters: parameters?,
        failure_event: "fail",
    })
}

fn compile_flex(props: &Map<String, Value>, problems: &mut Problems<'_>) -> Option<FlexWidget> {
    let workflow = required(props, "workflow", problems);
    let channel = required(props, "channel", problems);
    let attributes = optional(props, "attributes", problems);
    let priority = optional(props, "priority", problems);
    let timeout = optional(props, "timeout", problems);
    Some(FlexWidget {
        workflow: workflow?,
        channel: channel?,
        attributes: attributes?,
        priority: priority?,
        timeout: timeout?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The errors of a flow whose trigger leads to `state`, as text.
    fn errors_of(state: Value) -> Vec<String> {
        let text = json!({"states": [
            {"name": "Trigger", "type": "trigger", "transitions": [{"event": "incomingMessage", "next": "w"}]},
            state
        ], "initial_state": "Trigger"});
        match validate(&serde_json::from_value(text).unwrap()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_reply_timeout_is_seconds_as_a_number_or_a_string() {
        let wait = |timeout: Value| {
            errors_of(json!({"name": "w", "type": "send-and-wait-for-reply",
                             "properties": {"body": "?", "timeout": timeout}}))
        };
        assert!(wait(json!(3600)).is_empty());
        assert!(wait(json!("14400")).is_empty());
        assert!(wait(Value::Null).is_empty(), "absent: Studio's default");
        let expected =
            "state 'w': property 'timeout': expected a number of seconds from 1 to 604800";
        for bad in [json!(0), json!("soon"), json!(-5), json!(1.5), json!(700_000)] {
            assert_eq!(wait(bad.clone()), [expected], "{bad}");
        }
    }

    #[test]
    fn http_and_function_settings_are_checked() {
        let http = |props: Value| {
            errors_of(json!({"name": "w", "type": "make-http-request", "properties": props}))
        };
        assert!(http(
            json!({"method": "post", "url": "https://x", "content_type": "application/json"})
        )
        .is_empty());
        assert_eq!(
            http(json!({"method": "PATCH", "content_type": "text/xml"})),
            [
                "state 'w': property 'method': expected GET or POST",
                "state 'w': property 'content_type': expected application/x-www-form-urlencoded or application/json",
                "state 'w': property 'url': is required",
            ]
        );
        let params = json!({"method": "GET", "url": "https://x", "parameters": [{"value": "1"}]});
        assert_eq!(
            http(params),
            ["state 'w': property 'parameters[0].key': expected a non-empty string"]
        );
        let function =
            errors_of(json!({"name": "w", "type": "run-function", "properties": {"url": ""}}));
        assert_eq!(function, ["state 'w': property 'url': expected the Function's URL"]);
    }

    #[test]
    fn split_conditions_are_checked_and_literal_regexes_compiled() {
        let split = |condition: Value| {
            errors_of(json!({"name": "w", "type": "split-based-on",
                "transitions": [{"event": "match", "conditions": [condition]}],
                "properties": {"input": "{{trigger.message.Body}}"}}))
        };
        assert!(split(json!({"type": "is_blank", "arguments": []})).is_empty());
        assert!(split(json!({"type": "regex", "value": "{{flow.variables.pattern}}"})).is_empty());
        assert_eq!(
            split(json!({"type": "equal_to"})),
            ["state 'w': property 'transitions[0].conditions[0].value': is required for this condition type"]
        );
        let bad = split(json!({"type": "regex", "value": "(["}));
        assert!(bad[0].starts_with("state 'w': property 'transitions[0].conditions[0].value': the regex does not compile"), "{bad:?}");
        let empty = errors_of(json!({"name": "w", "type": "split-based-on",
            "transitions": [{"event": "match", "conditions": []}], "properties": {"input": "x"}}));
        assert_eq!(
            empty,
            ["state 'w': property 'transitions[0].conditions': a match needs conditions"]
        );
    }

    #[test]
    fn flex_needs_a_workflow_and_a_channel_and_templates_must_parse() {
        let flex = errors_of(json!({"name": "w", "type": "send-to-flex",
            "properties": {"attributes": "{\"a\": \"{{ x \"}"}}));
        assert_eq!(flex.len(), 3, "{flex:?}");
        assert_eq!(flex[0], "state 'w': property 'workflow': is required");
        assert!(
            flex[2].starts_with("state 'w': property 'attributes': the template does not parse")
        );
        let vars = errors_of(json!({"name": "w", "type": "set-variables",
            "properties": {"variables": [{"key": "a", "value": 3}, {"key": "b", "value": {"x": 1}}]}}));
        assert_eq!(vars, ["state 'w': property 'variables[1].value': expected a string"]);
    }
}
