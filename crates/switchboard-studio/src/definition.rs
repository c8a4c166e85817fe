//! A Studio flow definition exactly as Studio exports it (`description`, `states`,
//! `initial_state`, `flags`). Every object keeps the keys this crate does not read (`extra`,
//! `properties` whole), so a definition given is the definition echoed back: teams keep these
//! files in their repositories and Terraform, and a diff after a round trip would be noise.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The whole definition (Studio's `Definition` parameter and `definition` field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub states: Vec<State>,
    pub initial_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Flags>,
    /// Keys Studio may add that this crate does not read, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One widget of the flow (Studio calls them states).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    /// The widget type: `trigger`, `send-message`, `split-based-on`, …
    #[serde(rename = "type")]
    pub widget_type: String,
    #[serde(default)]
    pub transitions: Vec<Transition>,
    /// The widget's settings; read by `validate.rs`, kept whole (the editor's `offset` too).
    #[serde(default)]
    pub properties: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where the flow goes when the widget fires `event`; no `next` ends the execution there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// A `split-based-on` widget's `match` transitions carry the conditions that choose them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One condition of a `split-based-on` `match` transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// The templates tested: Studio's editor writes the widget's `input` here, once.
    #[serde(default)]
    pub arguments: Vec<String>,
    /// The condition type: `equal_to`, `matches_any_of`, `regex`, …
    #[serde(rename = "type")]
    pub condition_type: String,
    /// What the argument is compared with; absent for `is_blank` and `is_not_blank`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The definition's `flags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_concurrent_calls: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The largest definition accepted, in bytes of JSON: Studio flows of hundreds of widgets stay
/// far below it, and a stranger's document cannot make the parse or the stored revision huge.
pub const MAX_DEFINITION_BYTES: usize = 1 << 20;

/// Why a definition's text is not a definition at all (before any widget is checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("the definition is {0} bytes, more than {MAX_DEFINITION_BYTES}")]
    TooLarge(usize),
    #[error("the definition is not a Studio flow definition: {0}")]
    Malformed(String),
}

impl Definition {
    /// Reads Studio's JSON, refusing what is too large before parsing it.
    pub fn parse(text: &str) -> Result<Definition, DefinitionError> {
        if text.len() > MAX_DEFINITION_BYTES {
            return Err(DefinitionError::TooLarge(text.len()));
        }
        serde_json::from_str(text).map_err(|e| DefinitionError::Malformed(e.to_string()))
    }

    /// The definition as Studio's JSON (the form stored in events and echoed by the API).
    pub fn to_json(&self) -> String {
        // A definition is strings, maps and JSON values: serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The state named `name`, if any.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.states.iter().find(|s| s.name == name)
    }
}

impl State {
    /// Where `event` leads: `None` when the event has no transition or no `next`.
    pub fn next(&self, event: &str) -> Option<&str> {
        self.transitions.iter().find(|t| t.event == event).and_then(|t| t.next.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORTED: &str = r#"{
      "description": "A New Flow",
      "states": [
        {"name": "Trigger", "type": "trigger",
         "transitions": [{"next": "hello", "event": "incomingMessage"}, {"event": "incomingCall"}],
         "properties": {"offset": {"x": 0, "y": 0}}},
        {"name": "hello", "type": "send-message",
         "transitions": [{"event": "sent"}, {"event": "failed"}],
         "properties": {"offset": {"x": 10, "y": 200}, "service": "{{trigger.message.InstanceSid}}",
                        "from": "{{flow.channel.address}}", "body": "Hi", "media_url": "x"},
         "editor_note": "kept"}
      ],
      "initial_state": "Trigger",
      "flags": {"allow_concurrent_calls": true, "future_flag": 3},
      "future_top": [1, 2]
    }"#;

    #[test]
    fn an_exported_definition_round_trips_with_what_this_crate_does_not_read() {
        let definition = Definition::parse(EXPORTED).unwrap();
        assert_eq!(definition.states[1].properties["media_url"], "x");
        assert_eq!(definition.states[0].next("incomingMessage"), Some("hello"));
        assert_eq!(definition.states[0].next("incomingCall"), None);
        let echoed: Value = serde_json::from_str(&definition.to_json()).unwrap();
        let given: Value = serde_json::from_str(EXPORTED).unwrap();
        assert_eq!(echoed, given);
    }

    #[test]
    fn text_that_is_no_definition_is_refused_with_the_reason() {
        let missing = Definition::parse(r#"{"states": []}"#).unwrap_err().to_string();
        assert!(missing.contains("initial_state"), "{missing}");
        let huge = format!("{{\"description\": \"{}\"}}", "x".repeat(MAX_DEFINITION_BYTES));
        assert!(matches!(Definition::parse(&huge), Err(DefinitionError::TooLarge(_))));
    }
}
