//! The JSON form of a stored event, shared by `switchboard replay` and the admin API: channel,
//! sequence, time, type, schema, what caused it (when recorded) and the event's own fields
//! (docs/api.md, "Audit lines").

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
            let mut line = json!({
                "channel_sid": stream.to_string(),
                "seq": seq,
                "timestamp": iso(event.at),
                "type": name,
                "schema": event.schema,
                "fields": fields,
            });
            // Who or what made it happen, for records that say (older ones do not).
            if let (Some(cause), Value::Object(map)) = (&event.cause, &mut line) {
                map.insert("cause".into(), serde_json::to_value(cause).unwrap_or(Value::Null));
            }
            line
        }
        ReplayRecord::Shredded { stream, seq } => json!({
            "channel_sid": stream.to_string(),
            "seq": seq,
            "type": "shredded",
            "note": "the channel's data key was destroyed; this record can never be read",
        }),
    }
}

#[cfg(test)]
mod tests {
    use switchboard_domain::{Cause, ChannelEvent, Recorded, Sid, SidPrefix, Timestamp};
    use switchboard_store::AnyEvent;

    use super::*;

    fn line_of(cause: Option<Cause>) -> Value {
        let event = ChannelEvent::AttributesUpdated { attributes: "{}".into() };
        let mut recorded = Recorded::new(Timestamp::from_millis(0), AnyEvent::Channel(event));
        recorded.cause = cause;
        let stream = Sid::from_parts(SidPrefix::CHANNEL, [1; 16]);
        event_line(&ReplayRecord::Event { stream, seq: 3, event: recorded })
    }

    #[test]
    fn a_line_names_its_cause_when_the_record_has_one() {
        let client = Cause::Client { identity: "alice".into() };
        let line = line_of(Some(client));
        assert_eq!(line["cause"], json!({"client": {"identity": "alice"}}));
        assert_eq!(line["type"], "attributes_updated");
        assert_eq!(line["fields"], json!({"attributes": "{}"}));
        assert!(line_of(None).get("cause").is_none(), "older records print as before");
    }
}
