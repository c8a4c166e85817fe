//! Resources rendered in Twilio's JSON shapes: snake_case keys, ISO 8601 dates to the second,
//! absolute `url` and `links` on the public URL.

use serde_json::{json, Map, Value};
use switchboard_actors::{FlowView, MessageView, OpenTask, ServiceView};
use switchboard_domain::{
    ChannelKind, ChannelState, DefaultRole, IntegrationType, MemberState, Sid,
};

use crate::state::AppState;

pub use switchboard_actors::iso8601 as iso;

pub fn flow(state: &AppState, flow: &FlowView) -> Value {
    let config = &flow.config;
    let integration = &config.integration;
    let mut details = Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            details.insert(key.to_owned(), value);
        }
    };
    match config.integration_type {
        IntegrationType::Studio => {
            put("flow_sid", json!(integration.flow_sid.map(|s| s.to_string())));
            put("retry_count", json!(integration.retry_count));
        }
        IntegrationType::External => {
            put("url", json!(integration.url));
            put(
                "retry_count",
                json!(integration
                    .retry_count
                    .unwrap_or(switchboard_domain::Integration::DEFAULT_RETRY_COUNT)),
            );
        }
        IntegrationType::Task => {
            put("workspace_sid", json!(integration.workspace_sid.map(|s| s.to_string())));
            put("workflow_sid", json!(integration.workflow_sid.map(|s| s.to_string())));
            put("channel", json!(integration.channel.clone().unwrap_or_else(|| "default".into())));
            put(
                "timeout",
                json!(integration
                    .timeout_secs
                    .unwrap_or(switchboard_domain::Integration::DEFAULT_TIMEOUT_SECS)),
            );
            put("priority", json!(integration.priority.unwrap_or(0)));
            put("creation_on_message", json!(integration.creation_on_message));
        }
    }
    json!({
        "sid": flow.sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "date_created": iso(flow.date_created),
        "date_updated": iso(flow.date_updated),
        "friendly_name": config.friendly_name,
        "chat_service_sid": config.chat_service_sid.to_string(),
        "channel_type": config.channel_type.as_str(),
        "contact_identity": config.contact_identity,
        "enabled": config.enabled,
        "integration_type": config.integration_type.as_str(),
        "integration": details,
        "long_lived": config.long_lived,
        "janitor_enabled": config.janitor_enabled,
        "url": state.url(&format!("/flex/v1/FlexFlows/{}", flow.sid)),
    })
}

pub fn service(state: &AppState, service: &ServiceView) -> Value {
    let base = state.url(&format!("/chat/v2/Services/{}", service.sid));
    json!({
        "sid": service.sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "friendly_name": service.friendly_name,
        "date_created": iso(service.date_created),
        "date_updated": iso(service.date_updated),
        "default_service_role_sid": service.role(DefaultRole::ServiceUser).map(|r| r.sid.to_string()),
        "default_channel_role_sid": service.role(DefaultRole::ChannelUser).map(|r| r.sid.to_string()),
        "default_channel_creator_role_sid": service.role(DefaultRole::ChannelAdmin).map(|r| r.sid.to_string()),
        "read_status_enabled": true,
        "reachability_enabled": false,
        "typing_indicator_timeout": 5,
        "consumption_report_interval": 10,
        "limits": { "channel_members": 100, "user_channels": 250 },
        "pre_webhook_url": service.webhooks.pre_webhook_url,
        "post_webhook_url": service.webhooks.post_webhook_url,
        "webhook_method": service.webhooks.method.as_str(),
        "webhook_filters": service.webhooks.filters,
        "pre_webhook_retry_count": service.webhooks.pre_retry_count,
        "post_webhook_retry_count": service.webhooks.post_retry_count,
        "notifications": {},
        "media": { "size_limit_mb": 150, "compatibility_message": "Media messages are not supported by your client" },
        "url": base,
        "links": {
            "channels": format!("{base}/Channels"),
            "users": format!("{base}/Users"),
            "roles": format!("{base}/Roles"),
            "bindings": format!("{base}/Bindings"),
        },
    })
}

/// Channel attributes as clients read them: Flex's `status` follows the channel's real status.
/// (In the actors, because channel webhooks send them too.)
pub fn channel_attributes(channel: &ChannelState) -> String {
    switchboard_actors::channel_attributes(channel)
}

pub fn channel(state: &AppState, sid: Sid, channel: &ChannelState) -> Value {
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    let base = state.url(&format!("/chat/v2/Services/{service}/Channels/{sid}"));
    json!({
        "sid": sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "service_sid": service,
        "friendly_name": channel.friendly_name,
        "unique_name": channel.unique_name,
        "attributes": channel_attributes(channel),
        "type": match channel.kind { Some(ChannelKind::Public) => "public", _ => "private" },
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
        "created_by": channel.created_by,
        "members_count": channel.members.len(),
        "messages_count": channel.messages_count(),
        "url": base,
        "links": {
            "members": format!("{base}/Members"),
            "messages": format!("{base}/Messages"),
            "invites": format!("{base}/Invites"),
            "webhooks": format!("{base}/Webhooks"),
            "last_message": null,
        },
    })
}

pub fn member(state: &AppState, channel: &ChannelState, sid: Sid, member: &MemberState) -> Value {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    json!({
        "sid": sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "channel_sid": channel_sid,
        "service_sid": service,
        "identity": member.identity,
        "role_sid": member.role_sid.map(|s| s.to_string()),
        "last_consumed_message_index": member.last_consumed_index,
        "last_consumption_timestamp": member.last_consumption_at.map(iso),
        "date_created": iso(member.date_created),
        "date_updated": iso(member.date_updated),
        "attributes": member.attributes,
        "url": state.url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}/Members/{sid}")),
    })
}

pub fn message(state: &AppState, channel: &ChannelState, message: &MessageView) -> Value {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    let media = message.media.as_ref().map(|m| {
        // Where the bytes are: `pending` until fetched, `failed` with the reason.
        let stored = channel.media.get(&m.sid);
        let (status, error) = stored.map(crate::media::status_json).unwrap_or_default();
        json!({
            "sid": m.sid.to_string(),
            "size": stored.map_or(m.size_bytes, |s| s.size_bytes),
            "content_type": stored.map_or(m.content_type.as_str(), |s| s.content_type.as_str()),
            "filename": m.filename,
            "status": status,
            "error": error,
            "url": state.url(&format!("/chat/v2/Services/{service}/Media/{}", m.sid)),
        })
    });
    let delivery = channel.deliveries.get(&message.index);
    json!({
        "sid": message.sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "attributes": message.attributes,
        "service_sid": service,
        "to": channel_sid,
        "channel_sid": channel_sid,
        "date_created": iso(message.date_created),
        "date_updated": iso(message.date_updated),
        "last_updated_by": message.last_updated_by,
        "was_edited": message.was_edited,
        "from": message.author,
        "body": message.body,
        "index": message.index,
        "type": if message.media.is_some() { "media" } else { "text" },
        "media": media,
        "delivery_status": delivery.map(|d| serde_json::to_value(d.status).unwrap_or(Value::Null)),
        "delivery_error": delivery.and_then(|d| d.error.as_ref()).map(|e| json!({"code": e.code, "message": e.message})),
        "url": state.url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}/Messages/{}", message.sid)),
    })
}

pub fn task(state: &AppState, task: &OpenTask) -> Value {
    json!({
        "sid": task.task_sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "channel_sid": task.channel_sid.to_string(),
        "attributes": task.attributes,
        "priority": task.priority,
        "timeout": task.timeout_secs,
        "assignment_status": "pending",
        "date_created": iso(task.linked_at),
        "url": state.url(&format!("/admin/v1/Tasks/{}", task.task_sid)),
    })
}
