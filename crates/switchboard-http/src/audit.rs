//! The JSON form of a stored event, shared by `switchboard replay` and the admin API: channel,
//! sequence, time, type, schema and the event's own fields.

use serde_json::{json, Value};
use switchboard_domain::DomainEvent;
use switchboard_store::{ReplayItem, ReplayRecord};

use crate::views::iso;

pub fn event_line(item: &ReplayItem) -> Value {
    match item {
        ReplayRecord::Event { stream, seq, event } => {
            let name = event.event.type_name();
            let mut fields = match serde_json::to_value(&event.event) {
                // Externally tagged: {"message_added": {...}}, or a bare string for unit variants.
                Ok(Value::Object(mut map)) => map.remove(name).unwrap_or(Value::Null),
                _ => Value::Object(Default::default()),
            };
            // A console password's hash is kept to check sign-ins, never shown, not even here.
            if name == "password_set" {
                fields = json!({ "hash": "(not shown)" });
            }
            json!({
                "channel_sid": stream.to_string(),
                "seq": seq,
                "timestamp": iso(event.at),
                "type": name,
                "schema": event.schema,
                "fields": fields,
            })
        }
        ReplayRecord::Shredded { stream, seq } => json!({
            "channel_sid": stream.to_string(),
            "seq": seq,
            "type": "shredded",
            "note": "the channel's data key was destroyed; this record can never be read",
        }),
    }
}
