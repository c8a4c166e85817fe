//! Resources rendered in Twilio's JSON shapes: snake_case keys, ISO 8601 dates to the second,
//! absolute `url` and `links` on the public URL.

use serde::Serialize;
use switchboard_actors::{FlowView, MessageView, OpenTask, ServiceView};
use switchboard_domain::{
    ChannelKind, ChannelState, DefaultRole, DeliveryStatus, IntegrationType, MemberState, Sid,
};
use utoipa::ToSchema;

use crate::state::AppState;

pub use switchboard_actors::iso8601 as iso;

/// A Flex Flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlexFlow {
    /// `FO…`
    pub sid: String,
    pub account_sid: String,
    pub date_created: String,
    pub date_updated: String,
    pub friendly_name: String,
    /// The Chat Service (`IS…`) its channels are made in.
    pub chat_service_sid: String,
    /// `web`, `sms`, `facebook`, `whatsapp`, `line` or `custom`.
    pub channel_type: String,
    /// The number, WhatsApp `phone_number_id` or Page id it answers for.
    pub contact_identity: Option<String>,
    pub enabled: bool,
    /// `studio`, `external` or `task`.
    pub integration_type: String,
    pub integration: FlexFlowIntegration,
    pub long_lived: bool,
    pub janitor_enabled: bool,
    pub url: String,
}

/// A Flex Flow's integration: only the settings of its type are present.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct FlexFlowIntegration {
    /// `studio`: the Studio Flow (`FW…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_sid: Option<String>,
    /// `external`: where each customer message is posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `studio` (when set) and `external` (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<u8>,
    /// `task`: the TaskRouter workspace (`WS…`), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_sid: Option<String>,
    /// `task`: the workflow (`WW…`), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_sid: Option<String>,
    /// `task`: the task channel (default `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// `task`: seconds (default 86400).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// `task`: default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// `task`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_on_message: Option<bool>,
}

pub fn flow(state: &AppState, flow: &FlowView) -> FlexFlow {
    let config = &flow.config;
    let integration = &config.integration;
    let details = match config.integration_type {
        IntegrationType::Studio => FlexFlowIntegration {
            flow_sid: integration.flow_sid.map(|s| s.to_string()),
            retry_count: integration.retry_count,
            ..FlexFlowIntegration::default()
        },
        IntegrationType::External => FlexFlowIntegration {
            url: integration.url.clone(),
            retry_count: Some(
                integration
                    .retry_count
                    .unwrap_or(switchboard_domain::Integration::DEFAULT_RETRY_COUNT),
            ),
            ..FlexFlowIntegration::default()
        },
        IntegrationType::Task => FlexFlowIntegration {
            workspace_sid: integration.workspace_sid.map(|s| s.to_string()),
            workflow_sid: integration.workflow_sid.map(|s| s.to_string()),
            channel: Some(integration.channel.clone().unwrap_or_else(|| "default".into())),
            timeout: Some(
                integration
                    .timeout_secs
                    .unwrap_or(switchboard_domain::Integration::DEFAULT_TIMEOUT_SECS),
            ),
            priority: Some(integration.priority.unwrap_or(0)),
            creation_on_message: integration.creation_on_message,
            ..FlexFlowIntegration::default()
        },
    };
    FlexFlow {
        sid: flow.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        date_created: iso(flow.date_created),
        date_updated: iso(flow.date_updated),
        friendly_name: config.friendly_name.clone(),
        chat_service_sid: config.chat_service_sid.to_string(),
        channel_type: config.channel_type.as_str().to_owned(),
        contact_identity: config.contact_identity.clone(),
        enabled: config.enabled,
        integration_type: config.integration_type.as_str().to_owned(),
        integration: details,
        long_lived: config.long_lived,
        janitor_enabled: config.janitor_enabled,
        url: state.url(&format!("/flex/v1/FlexFlows/{}", flow.sid)),
    }
}

crate::listing!(
    /// A page of Flex Flows.
    FlexFlowList, flex_flows, FlexFlow
);

/// A Chat Service. Settings other than the name and the default roles are shown with Twilio's
/// defaults.
#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    /// `IS…`
    pub sid: String,
    pub account_sid: String,
    pub friendly_name: String,
    pub date_created: String,
    pub date_updated: String,
    /// The `deployment` role a user gets when it names none (`RL…`).
    pub default_service_role_sid: Option<String>,
    /// The `channel` role a member gets when it names none.
    pub default_channel_role_sid: Option<String>,
    /// The `channel` role of a channel's creator.
    pub default_channel_creator_role_sid: Option<String>,
    pub read_status_enabled: bool,
    pub reachability_enabled: bool,
    /// Seconds.
    pub typing_indicator_timeout: u32,
    /// Seconds.
    pub consumption_report_interval: u32,
    pub limits: ServiceLimits,
    /// Called before an event is applied; its answer may refuse it (Twilio's pre-event webhook).
    pub pre_webhook_url: Option<String>,
    /// Called after an event is applied (Twilio's post-event webhook).
    pub post_webhook_url: Option<String>,
    /// `GET` or `POST` (default).
    pub webhook_method: String,
    /// The events the service webhooks are called for (`onMessageSend`, `onMessageSent`, …).
    pub webhook_filters: Vec<String>,
    /// How often a failed pre-event call is retried (0 to 3).
    pub pre_webhook_retry_count: u32,
    /// How often a failed post-event call is retried (0 to 3).
    pub post_webhook_retry_count: u32,
    /// Push notification settings: none are kept.
    pub notifications: ServiceNotifications,
    pub media: ServiceMedia,
    pub url: String,
    pub links: ServiceLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceLimits {
    pub channel_members: u32,
    pub user_channels: u32,
}

/// Push notification settings (Twilio's `new_message`, `added_to_channel`, …): not kept yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceNotifications {}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceMedia {
    pub size_limit_mb: u32,
    pub compatibility_message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceLinks {
    pub channels: String,
    pub users: String,
    pub roles: String,
    pub bindings: String,
}

pub fn service(state: &AppState, service: &ServiceView) -> Service {
    let base = state.url(&format!("/chat/v2/Services/{}", service.sid));
    let role = |which| service.role(which).map(|r| r.sid.to_string());
    Service {
        sid: service.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        friendly_name: service.friendly_name.clone(),
        date_created: iso(service.date_created),
        date_updated: iso(service.date_updated),
        default_service_role_sid: role(DefaultRole::ServiceUser),
        default_channel_role_sid: role(DefaultRole::ChannelUser),
        default_channel_creator_role_sid: role(DefaultRole::ChannelAdmin),
        read_status_enabled: true,
        reachability_enabled: service.reachability_enabled,
        typing_indicator_timeout: 5,
        consumption_report_interval: 10,
        limits: ServiceLimits { channel_members: 100, user_channels: 250 },
        pre_webhook_url: service.webhooks.pre_webhook_url.clone(),
        post_webhook_url: service.webhooks.post_webhook_url.clone(),
        webhook_method: service.webhooks.method.as_str().to_owned(),
        webhook_filters: service.webhooks.filters.clone(),
        pre_webhook_retry_count: service.webhooks.pre_retry_count.into(),
        post_webhook_retry_count: service.webhooks.post_retry_count.into(),
        notifications: ServiceNotifications {},
        media: ServiceMedia {
            size_limit_mb: 150,
            compatibility_message: "Media messages are not supported by your client".to_owned(),
        },
        links: ServiceLinks {
            channels: format!("{base}/Channels"),
            users: format!("{base}/Users"),
            roles: format!("{base}/Roles"),
            bindings: format!("{base}/Bindings"),
        },
        url: base,
    }
}

crate::listing!(
    /// A page of Chat Services.
    ServiceList, services, Service
);

/// Channel attributes as clients read them: Flex's `status` follows the channel's real status.
/// (In the actors, because channel webhooks send them too.)
pub fn channel_attributes(channel: &ChannelState) -> String {
    switchboard_actors::channel_attributes(channel)
}

/// A Chat channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    /// `CH…`
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    /// A JSON document, as a string. On a channel a flow opened, its `status` follows the
    /// channel's (`ACTIVE`, `INACTIVE`).
    pub attributes: String,
    /// `public` or `private`.
    #[serde(rename = "type")]
    pub kind: String,
    pub date_created: String,
    pub date_updated: String,
    pub created_by: String,
    pub members_count: usize,
    pub messages_count: u64,
    pub url: String,
    pub links: ChannelLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelLinks {
    pub members: String,
    pub messages: String,
    pub invites: String,
    pub webhooks: String,
    /// Always `null` here.
    pub last_message: Option<String>,
}

pub fn channel(state: &AppState, sid: Sid, channel: &ChannelState) -> Channel {
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    let base = state.url(&format!("/chat/v2/Services/{service}/Channels/{sid}"));
    Channel {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        service_sid: service,
        friendly_name: channel.friendly_name.clone(),
        unique_name: channel.unique_name.clone(),
        attributes: channel_attributes(channel),
        kind: match channel.kind {
            Some(ChannelKind::Public) => "public",
            _ => "private",
        }
        .to_owned(),
        date_created: iso(channel.date_created),
        date_updated: iso(channel.date_updated),
        created_by: channel.created_by.clone(),
        members_count: channel.members.len(),
        messages_count: channel.messages_count(),
        links: ChannelLinks {
            members: format!("{base}/Members"),
            messages: format!("{base}/Messages"),
            invites: format!("{base}/Invites"),
            webhooks: format!("{base}/Webhooks"),
            last_message: None,
        },
        url: base,
    }
}

crate::listing!(
    /// A page of Chat channels.
    ChannelList, channels, Channel
);

/// A member of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    /// `MB…`
    pub sid: String,
    pub account_sid: String,
    pub channel_sid: String,
    pub service_sid: String,
    pub identity: String,
    /// Its channel role (`RL…`), when it has its own.
    pub role_sid: Option<String>,
    /// The read horizon: the index of the last message read, `null` for none.
    pub last_consumed_message_index: Option<u64>,
    pub last_consumption_timestamp: Option<String>,
    pub date_created: String,
    pub date_updated: String,
    /// A JSON document, as a string.
    pub attributes: String,
    pub url: String,
}

pub fn member(state: &AppState, channel: &ChannelState, sid: Sid, member: &MemberState) -> Member {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    Member {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        url: state
            .url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}/Members/{sid}")),
        channel_sid,
        service_sid: service,
        identity: member.identity.clone(),
        role_sid: member.role_sid.map(|s| s.to_string()),
        last_consumed_message_index: member.last_consumed_index,
        last_consumption_timestamp: member.last_consumption_at.map(iso),
        date_created: iso(member.date_created),
        date_updated: iso(member.date_updated),
        attributes: member.attributes.clone(),
    }
}

crate::listing!(
    /// A page of a channel's members.
    MemberList, members, Member
);

/// A message of a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// `IM…`
    pub sid: String,
    pub account_sid: String,
    /// A JSON document, as a string.
    pub attributes: String,
    pub service_sid: String,
    /// The channel's SID, as Twilio repeats it.
    pub to: String,
    pub channel_sid: String,
    pub date_created: String,
    pub date_updated: String,
    /// Who edited it last.
    pub last_updated_by: Option<String>,
    pub was_edited: bool,
    /// The author's identity.
    pub from: String,
    pub body: String,
    /// Its position in the channel, from 0.
    pub index: u64,
    /// `text` or `media`.
    #[serde(rename = "type")]
    pub kind: String,
    pub media: Option<MessageMedia>,
    /// For a reply sent to a customer through a provider: `queued`, `sent`, `delivered`,
    /// `read`, `undelivered` or `failed`.
    #[schema(value_type = Option<String>)]
    pub delivery_status: Option<DeliveryStatus>,
    /// Why the provider did not take the reply.
    pub delivery_error: Option<DeliveryError>,
    pub url: String,
}

/// A message's medium.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageMedia {
    /// `ME…`
    pub sid: String,
    /// Bytes.
    pub size: u64,
    pub content_type: String,
    pub filename: Option<String>,
    /// `pending` until fetched, `stored`, or `failed`.
    pub status: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The Media resource.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryError {
    /// The provider's code, the HTTP status, or `configuration`.
    pub code: String,
    pub message: String,
}

pub fn message(state: &AppState, channel: &ChannelState, message: &MessageView) -> Message {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    let media = message.media.as_ref().map(|m| {
        // Where the bytes are: `pending` until fetched, `failed` with the reason.
        let stored = channel.media.get(&m.sid);
        let (status, error) = stored.map(crate::media::status).unzip();
        MessageMedia {
            sid: m.sid.to_string(),
            size: stored.map_or(m.size_bytes, |s| s.size_bytes),
            content_type: stored
                .map_or(m.content_type.as_str(), |s| s.content_type.as_str())
                .to_owned(),
            filename: m.filename.clone(),
            status: status.map(str::to_owned),
            error: error.flatten(),
            url: state.url(&format!("/chat/v2/Services/{service}/Media/{}", m.sid)),
        }
    });
    // The state's is the newest; a message whose delivery it no longer keeps has it from its record.
    let kept = channel.deliveries.get(&message.index);
    let delivery = kept
        .map(|d| switchboard_actors::MessageDelivery { status: d.status, error: d.error.clone() })
        .or_else(|| message.delivery.clone());
    let delivery = delivery.as_ref();
    Message {
        sid: message.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        attributes: message.attributes.clone(),
        service_sid: service.clone(),
        to: channel_sid.clone(),
        date_created: iso(message.date_created),
        date_updated: iso(message.date_updated),
        last_updated_by: message.last_updated_by.clone(),
        was_edited: message.was_edited,
        from: message.author.clone(),
        body: message.body.clone(),
        index: message.index,
        kind: if message.media.is_some() { "media" } else { "text" }.to_owned(),
        media,
        delivery_status: delivery.map(|d| d.status),
        delivery_error: delivery
            .and_then(|d| d.error.as_ref())
            .map(|e| DeliveryError { code: e.code.clone(), message: e.message.clone() }),
        url: state.url(&format!(
            "/chat/v2/Services/{service}/Channels/{channel_sid}/Messages/{}",
            message.sid
        )),
        channel_sid,
    }
}

crate::listing!(
    /// A page of a channel's messages.
    MessageList, messages, Message
);

/// An open task of the built-in task router.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenChannelTask {
    /// `WT…`
    pub sid: String,
    pub account_sid: String,
    pub channel_sid: String,
    /// A JSON document, as a string.
    pub attributes: String,
    pub priority: i64,
    /// Seconds.
    pub timeout: u64,
    /// Always `pending`: assignment is not done yet.
    pub assignment_status: String,
    pub date_created: String,
    pub url: String,
}

/// `linked`: the task as its channel keeps it ([`OpenTask`] carries only what orders the list).
pub fn task(
    state: &AppState,
    task: &OpenTask,
    linked: &switchboard_domain::TaskState,
) -> OpenChannelTask {
    OpenChannelTask {
        sid: task.task_sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        channel_sid: task.channel_sid.to_string(),
        attributes: linked.attributes.clone(),
        priority: linked.priority,
        timeout: linked.timeout_secs,
        assignment_status: "pending".to_owned(),
        date_created: iso(task.linked_at),
        url: state.url(&format!("/admin/v1/Tasks/{}", task.task_sid)),
    }
}

crate::listing!(
    /// A page of open tasks.
    OpenChannelTaskList, tasks, OpenChannelTask
);
