//! Flex v1 `Channels` (custom channels: a bridge opens its customer's channel in one call) and
//! `WebChannels` (guest web chats): create (201), fetch, list, delete (204), and for web chats
//! the update that ends the chat (`ChatStatus=inactive`).
//!
//! Both open the customer's channel through the engine's flow router, so a second call for the
//! same customer, or twenty at once, get the one channel. The customer's messages are then posted
//! through the Chat API in the customer's name (see `chat/messages.rs`).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_actors::{FlowView, OpenChannel};
use switchboard_domain::{
    customer_address, ChannelCommand, ChannelState, IntegrationType, Rejection, Sid, SidPrefix,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{page_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};
use crate::views::iso;

const CHANNELS: &str = "/flex/v1/Channels";
const WEB_CHANNELS: &str = "/flex/v1/WebChannels";
/// Twilio's limit on pre-engagement data (error 45731 there).
const ENGAGEMENT_DATA_LIMIT: usize = 16 * 1024;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_channels)
        .service(create_channel)
        .service(fetch_channel)
        .service(delete_channel)
        .service(list_web_channels)
        .service(create_web_channel)
        .service(fetch_web_channel)
        .service(update_web_channel)
        .service(delete_web_channel);
}

/// The form of a custom channel create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateFlexChannelForm {
    /// `FO…`
    flex_flow_sid: String,
    /// The member added, and the customer unless `Target` is given.
    identity: String,
    chat_user_friendly_name: String,
    chat_friendly_name: String,
    /// The customer's address (an SMS number for an outbound chat).
    target: Option<String>,
    chat_unique_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    pre_engagement_data: Option<String>,
    /// A task flow's task to link (`WT…`).
    task_sid: Option<String>,
    /// A JSON object merged over the task's default attributes.
    task_attributes: Option<String>,
    long_lived: Option<bool>,
}

/// The form of a web chat create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateWebChannelForm {
    /// `FO…`, an enabled flow.
    flex_flow_sid: String,
    identity: String,
    customer_friendly_name: String,
    chat_friendly_name: String,
    chat_unique_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    pre_engagement_data: Option<String>,
}

/// The form of a web chat update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateWebChannelForm {
    /// Only `inactive`: ends the chat.
    chat_status: Option<String>,
    /// A JSON document of at most 16 KiB, kept as the attributes' `post_engagement_data`.
    post_engagement_data: Option<String>,
}

/// A channel a Flex Flow opened, as Flex v1 `Channels` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlexChannel {
    pub account_sid: String,
    pub flex_flow_sid: Option<String>,
    /// `CH…`, the Chat channel.
    pub sid: String,
    /// The customer's Chat User (`US…`).
    pub user_sid: Option<String>,
    /// The open task linked last.
    pub task_sid: Option<String>,
    pub url: String,
    pub date_created: String,
    pub date_updated: String,
}

crate::listing!(
    /// A page of Flex channels.
    FlexChannelList, flex_chat_channels, FlexChannel
);

/// A channel a Flex Flow opened, as Flex v1 `WebChannels` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebChannel {
    pub account_sid: String,
    pub flex_flow_sid: Option<String>,
    /// `CH…`, the Chat channel.
    pub sid: String,
    pub url: String,
    pub date_created: String,
    pub date_updated: String,
}

crate::listing!(
    /// A page of web chats.
    WebChannelList, flex_chat_channels, WebChannel
);

/// Finds the customer's open channel on the flow or opens one, with its member and task
/// (201 either way, as Twilio).
#[utoipa::path(
    tag = "Flex",
    operation_id = "CreateFlexChannel",
    request_body(content = CreateFlexChannelForm, content_type = FORM),
    responses((status = 201, description = "The channel", body = FlexChannel)),
)]
#[post("/flex/v1/Channels")]
async fn create_channel(
    _: Principal,
    state: web::Data<AppState>,
    form: Form<CreateFlexChannelForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(
        &form.raw,
        &[
            lengths::IDENTITY,
            lengths::CHAT_USER_NAME,
            lengths::CHAT_NAME,
            lengths::CHAT_UNIQUE_NAME,
            lengths::TARGET,
        ],
    )?;
    let form = form.fields;
    let identity = form.identity.as_str();
    let flow = flow(&state, &form.flex_flow_sid)?;
    // The customer is the Target when there is one (an SMS number for an outbound chat), the
    // chat identity otherwise; it is the key inbound messages find the channel by.
    let target = form.target.as_deref().filter(|t| !t.is_empty());
    let is_task_flow = flow.config.integration_type == IntegrationType::Task;
    let task_sid = sid_field("TaskSid", form.task_sid.as_deref(), SidPrefix::TASK)?;
    let task_attributes = json_object(form.task_attributes.as_deref(), "TaskAttributes")?;
    if !is_task_flow && (task_sid.is_some() || task_attributes.is_some()) {
        return Err(ApiError::bad_param(
            "TaskSid and TaskAttributes apply only to a Flex Flow with IntegrationType task",
        ));
    }
    let open = OpenChannel {
        customer_address: address(
            &flow,
            target.unwrap_or(identity),
            target.map_or("Identity", |_| "Target"),
        )?,
        identity: identity.to_owned(),
        user_friendly_name: Some(form.chat_user_friendly_name),
        friendly_name: Some(form.chat_friendly_name),
        unique_name: form.chat_unique_name.filter(|n| !n.is_empty()),
        pre_engagement_data: engagement_data(
            form.pre_engagement_data.as_deref(),
            "PreEngagementData",
        )?,
        task_sid,
        task_attributes,
        long_lived: form.long_lived,
    };
    let channel = open_channel(&state, flow, open).await?;
    Ok(HttpResponse::Created().json(channel_view(&state, &channel)))
}

/// Opens a guest web chat (or finds the customer's open one).
#[utoipa::path(
    tag = "Flex",
    operation_id = "CreateWebChannel",
    request_body(content = CreateWebChannelForm, content_type = FORM),
    responses((status = 201, description = "The channel", body = WebChannel)),
)]
#[post("/flex/v1/WebChannels")]
async fn create_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    form: Form<CreateWebChannelForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(
        &form.raw,
        &[lengths::IDENTITY, lengths::CUSTOMER_NAME, lengths::CHAT_NAME, lengths::CHAT_UNIQUE_NAME],
    )?;
    let form = form.fields;
    let identity = form.identity.as_str();
    let flow = flow(&state, &form.flex_flow_sid)?;
    // A guest chat is inbound traffic: like a provider's message, it needs an enabled flow.
    if !flow.config.enabled {
        return Err(ApiError::bad_param(format!(
            "Flex Flow {} is disabled; a web chat needs an enabled flow",
            flow.sid
        )));
    }
    let open = OpenChannel {
        customer_address: address(&flow, identity, "Identity")?,
        identity: identity.to_owned(),
        user_friendly_name: Some(form.customer_friendly_name),
        friendly_name: Some(form.chat_friendly_name),
        unique_name: form.chat_unique_name.filter(|n| !n.is_empty()),
        pre_engagement_data: engagement_data(
            form.pre_engagement_data.as_deref(),
            "PreEngagementData",
        )?,
        task_sid: None,
        task_attributes: None,
        long_lived: None,
    };
    let channel = open_channel(&state, flow, open).await?;
    Ok(HttpResponse::Created().json(web_channel_view(&state, &channel)))
}

/// Fetches a channel a Flex Flow opened.
#[utoipa::path(
    tag = "Flex",
    operation_id = "FetchFlexChannel",
    params(("sid" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 200, description = "The channel", body = FlexChannel)),
)]
#[get("/flex/v1/Channels/{sid}")]
async fn fetch_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let channel = load(&state, &request).await?;
    Ok(HttpResponse::Ok().json(channel_view(&state, &channel)))
}

/// Fetches a channel a Flex Flow opened, as a web chat.
#[utoipa::path(
    tag = "Flex",
    operation_id = "FetchWebChannel",
    params(("sid" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 200, description = "The channel", body = WebChannel)),
)]
#[get("/flex/v1/WebChannels/{sid}")]
async fn fetch_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let channel = load(&state, &request).await?;
    Ok(HttpResponse::Ok().json(web_channel_view(&state, &channel)))
}

/// Lists the channels Flex Flows opened.
#[utoipa::path(
    tag = "Flex",
    operation_id = "ListFlexChannel",
    params(PageParams),
    responses((status = 200, description = "A page of channels", body = FlexChannelList)),
)]
#[get("/flex/v1/Channels")]
async fn list_channels(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (page, has_more) = flow_channels(&state, &paging).await?;
    let items = page.iter().map(|c| channel_view(&state, c)).collect();
    page_response::<FlexChannelList>(&state, &request, &paging, items, has_more)
}

/// Lists the channels Flex Flows opened, as web chats.
#[utoipa::path(
    tag = "Flex",
    operation_id = "ListWebChannel",
    params(PageParams),
    responses((status = 200, description = "A page of channels", body = WebChannelList)),
)]
#[get("/flex/v1/WebChannels")]
async fn list_web_channels(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (page, has_more) = flow_channels(&state, &paging).await?;
    let items = page.iter().map(|c| web_channel_view(&state, c)).collect();
    page_response::<WebChannelList>(&state, &request, &paging, items, has_more)
}

/// `ChatStatus=inactive` ends the chat: the channel goes INACTIVE and its open tasks are
/// canceled. `PostEngagementData` is kept in the channel's attributes.
#[utoipa::path(
    tag = "Flex",
    operation_id = "UpdateWebChannel",
    params(("sid" = String, Path, description = "The channel (`CH…`)")),
    request_body(content = UpdateWebChannelForm, content_type = FORM),
    responses((status = 200, description = "The channel", body = WebChannel)),
)]
#[post("/flex/v1/WebChannels/{sid}")]
async fn update_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateWebChannelForm>,
) -> Result<HttpResponse, ApiError> {
    let current = load(&state, &request).await?;
    let sid = current.sid.ok_or_else(ApiError::internal)?;
    let ending = match form.chat_status.as_deref() {
        None => false,
        Some(status) if status.eq_ignore_ascii_case("inactive") => true,
        Some(other) => {
            return Err(ApiError::bad_param(format!("ChatStatus must be inactive, not {other:?}")))
        }
    };
    let post = engagement_data(form.post_engagement_data.as_deref(), "PostEngagementData")?;
    let with_post = |channel: &ChannelState| -> Vec<ChannelCommand> {
        let Some(post) = &post else { return Vec::new() };
        let mut attributes = match serde_json::from_str::<Value>(&channel.attributes) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        attributes.insert("post_engagement_data".into(), post.clone());
        vec![ChannelCommand::UpdateAttributes { attributes: Value::Object(attributes).to_string() }]
    };
    let done = if ending {
        state.engine.channels().end_interaction(sid, "the customer ended the chat", with_post).await
    } else {
        let commands = with_post(&current);
        if commands.is_empty() {
            Ok(Ok(()))
        } else {
            state.engine.channels().execute(sid, commands).await.map(|r| r.map(|_| ()))
        }
    };
    done??;
    let channel = load(&state, &request).await?;
    Ok(HttpResponse::Ok().json(web_channel_view(&state, &channel)))
}

/// Removes a channel: its interaction ends (tasks canceled, channel INACTIVE), its content is
/// erased, and the customer's next message or call opens a new channel.
#[utoipa::path(
    tag = "Flex",
    operation_id = "DeleteFlexChannel",
    params(("sid" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 204, description = "Removed")),
)]
#[delete("/flex/v1/Channels/{sid}")]
async fn delete_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    delete(&state, &request).await
}

/// Removes a web chat's channel, as `DELETE /flex/v1/Channels/{sid}` does.
#[utoipa::path(
    tag = "Flex",
    operation_id = "DeleteWebChannel",
    params(("sid" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 204, description = "Removed")),
)]
#[delete("/flex/v1/WebChannels/{sid}")]
async fn delete_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    delete(&state, &request).await
}

async fn delete(state: &AppState, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let channel = load(state, request).await?;
    let sid = channel.sid.ok_or_else(ApiError::internal)?;
    let removed = state.engine.channels().remove(sid, "the channel was deleted").await;
    removed??;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) async fn open_channel(
    state: &AppState,
    flow: FlowView,
    open: OpenChannel,
) -> Result<ChannelState, ApiError> {
    let unique_name = open.unique_name.clone();
    let opened = match state.engine.channels().open(flow, open).await? {
        Ok(opened) => opened,
        Err(Rejection::ChannelExists) => {
            return Err(ApiError::conflict(
                50307,
                format!(
                    "Channel with provided unique name {:?} already exists",
                    unique_name.unwrap_or_default()
                ),
            ))
        }
        Err(other) => return Err(other.into()),
    };
    match state.engine.channels().state(opened.channel_sid).await? {
        Some(channel) => Ok(channel),
        None => Err(ApiError::internal()),
    }
}

fn flow(state: &AppState, text: &str) -> Result<FlowView, ApiError> {
    let not_found =
        || ApiError::new(404, 20404, format!("The requested Flex Flow {text} was not found"));
    let sid = Sid::parse_with(text, SidPrefix::FLEX_FLOW).map_err(|_| not_found())?;
    state.engine.flows().get(sid).ok_or_else(not_found)
}

/// The customer's address in the form the flow's inbound messages use (E.164 for SMS, …).
fn address(flow: &FlowView, raw: &str, name: &str) -> Result<String, ApiError> {
    customer_address(flow.config.channel_type, raw).map_err(|e| {
        ApiError::bad_param(format!(
            "{name} {raw:?} is not a {} customer address: {e}",
            flow.config.channel_type.as_str()
        ))
    })
}

/// Pre- or post-engagement data: a JSON document of at most 16 KiB.
fn engagement_data(text: Option<&str>, name: &str) -> Result<Option<Value>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else { return Ok(None) };
    if text.len() > ENGAGEMENT_DATA_LIMIT {
        return Err(ApiError::bad_param(format!("{name} is longer than 16 KiB")));
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|_| ApiError::bad_param(format!("{name} must be a valid JSON document")))
}

fn json_object(text: Option<&str>, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    match engagement_data(text, name)? {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::bad_param(format!("{name} must be a JSON object"))),
    }
}

/// The channel of the path, if a Flex Flow opened it and it was not removed.
async fn load(state: &AppState, request: &HttpRequest) -> Result<ChannelState, ApiError> {
    let not_found = || ApiError::not_found(request.path());
    let text = request.match_info().get("sid").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::CHANNEL).map_err(|_| not_found())?;
    match state.engine.channels().state(sid).await? {
        Some(channel) if channel.flex_flow_sid.is_some() && !channel.is_removed() => Ok(channel),
        _ => Err(not_found()),
    }
}

/// This page of the channels a Flex Flow opened (by an inbound message or by these resources),
/// in SID order, and whether more follow. Only the page's channels are loaded.
async fn flow_channels(
    state: &AppState,
    paging: &Paging,
) -> Result<(Vec<ChannelState>, bool), ApiError> {
    let listed: Vec<Sid> = state
        .engine
        .channels()
        .listings(None)
        .await?
        .into_iter()
        .filter(|l| l.flex_flow_sid.is_some())
        .map(|l| l.channel_sid)
        .collect();
    let range = paging.range(listed.len());
    let mut channels = Vec::with_capacity(range.len());
    for &sid in &listed[range.clone()] {
        if let Some(channel) = state.engine.channels().state(sid).await? {
            channels.push(channel);
        }
    }
    Ok((channels, listed.len() > range.end))
}

/// The customer's member: the one named by the customer address, or else the first to join.
fn customer_member(channel: &ChannelState) -> Option<(&Sid, &switchboard_domain::MemberState)> {
    let address = channel.customer_address.as_deref();
    let named = channel.members.iter().find(|(_, m)| Some(m.identity.as_str()) == address);
    let first = || channel.members.iter().min_by_key(|(sid, m)| (m.date_created, **sid));
    named.or_else(first)
}

/// The customer's Chat User, made when the customer's member joined. Should its record be
/// missing (a failed write of the user), the member's SID under the `US` prefix stands in, as
/// before users were kept, so the value stays stable for the channel.
fn user_sid(state: &AppState, channel: &ChannelState) -> Option<String> {
    let (member_sid, member) = customer_member(channel)?;
    let user = channel
        .service_sid
        .and_then(|service| state.engine.users().live_sid(service, &member.identity).ok()?);
    Some(match user {
        Some(user) => user.to_string(),
        None => Sid::from_parts(SidPrefix::USER, member_sid.id()).to_string(),
    })
}

/// The task of the current interaction: the open task linked last.
fn task_sid(channel: &ChannelState) -> Option<String> {
    channel
        .open_tasks
        .iter()
        .max_by_key(|(sid, task)| (task.linked_at, **sid))
        .map(|(sid, _)| sid.to_string())
}

fn channel_view(state: &AppState, channel: &ChannelState) -> FlexChannel {
    let sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    FlexChannel {
        account_sid: state.credentials.account_sid.to_string(),
        flex_flow_sid: channel.flex_flow_sid.map(|s| s.to_string()),
        user_sid: user_sid(state, channel),
        task_sid: task_sid(channel),
        url: state.url(&format!("{CHANNELS}/{sid}")),
        sid,
        date_created: iso(channel.date_created),
        date_updated: iso(channel.date_updated),
    }
}

fn web_channel_view(state: &AppState, channel: &ChannelState) -> WebChannel {
    let sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    WebChannel {
        account_sid: state.credentials.account_sid.to_string(),
        flex_flow_sid: channel.flex_flow_sid.map(|s| s.to_string()),
        url: state.url(&format!("{WEB_CHANNELS}/{sid}")),
        sid,
        date_created: iso(channel.date_created),
        date_updated: iso(channel.date_updated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_domain::{MemberState, TaskState, Timestamp};

    #[test]
    fn engagement_data_is_json_of_at_most_16_kib() {
        assert_eq!(engagement_data(None, "P").unwrap(), None);
        assert_eq!(engagement_data(Some(""), "P").unwrap(), None);
        assert_eq!(engagement_data(Some(r#"{"a":1}"#), "P").unwrap(), Some(json!({"a": 1})));
        let error = engagement_data(Some("{nope"), "PreEngagementData").unwrap_err();
        assert_eq!((error.status(), error.code()), (400, 20001));
        assert!(error.message().contains("PreEngagementData"));
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(ENGAGEMENT_DATA_LIMIT));
        assert!(engagement_data(Some(&long), "P").unwrap_err().message().contains("16 KiB"));
        assert!(json_object(Some("[1,2]"), "TaskAttributes").is_err());
        assert!(json_object(Some(r#"{"k":"v"}"#), "TaskAttributes").unwrap().is_some());
    }

    fn member(identity: &str, at: i64) -> MemberState {
        MemberState {
            identity: identity.into(),
            role_sid: None,
            attributes: "{}".into(),
            last_consumed_index: None,
            last_consumption_at: None,
            date_created: Timestamp::from_millis(at),
            date_updated: Timestamp::from_millis(at),
        }
    }

    fn sid(prefix: SidPrefix, n: u8) -> Sid {
        Sid::from_parts(prefix, [n; 16])
    }

    #[test]
    fn the_user_is_the_customer_s_member_and_the_task_the_latest_open_one() {
        let mut channel = ChannelState {
            customer_address: Some("+14155550100".into()),
            ..ChannelState::default()
        };
        let user = |c: &ChannelState| customer_member(c).map(|(sid, _)| *sid);
        assert_eq!(user(&channel), None);
        assert_eq!(task_sid(&channel), None);
        channel.members.insert(sid(SidPrefix::MEMBER, 1), member("agent.alice", 1));
        channel.members.insert(sid(SidPrefix::MEMBER, 2), member("+14155550100", 2));
        assert_eq!(
            user(&channel),
            Some(sid(SidPrefix::MEMBER, 2)),
            "named by the customer address"
        );
        channel.customer_address = Some("someone-else".into());
        assert_eq!(user(&channel), Some(sid(SidPrefix::MEMBER, 1)), "else the first to join");
        for (n, at) in [(7, 5), (3, 9)] {
            let task = TaskState {
                attributes: "{}".into(),
                priority: 0,
                timeout_secs: 60,
                linked_at: Timestamp::from_millis(at),
            };
            channel.open_tasks.insert(sid(SidPrefix::TASK, n), task);
        }
        assert_eq!(task_sid(&channel), Some(sid(SidPrefix::TASK, 3).to_string()));
    }
}
