//! Flex v1 `Channels` (custom channels: a bridge opens its customer's channel in one call) and
//! `WebChannels` (guest web chats): create (201), fetch, list, delete (204), and for web chats
//! the update that ends the chat (`ChatStatus=inactive`).
//!
//! Both open the customer's channel through the engine's flow router, so a second call for the
//! same customer, or twenty at once, get the one channel. The customer's messages are then posted
//! through the Chat API in the customer's name (see `chat.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use switchboard_actors::{FlowView, OpenChannel};
use switchboard_domain::{
    customer_address, ChannelCommand, ChannelState, IntegrationType, Rejection, Sid, SidPrefix,
};

use crate::auth::Principal;
use crate::chat::rejected;
use crate::flex::internal;
use crate::lists::{page_response, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::views::iso;

const CHANNELS: &str = "/flex/v1/Channels";
const WEB_CHANNELS: &str = "/flex/v1/WebChannels";
/// Twilio's list key for both resources.
const LIST_KEY: &str = "flex_chat_channels";
/// Twilio's limit on pre-engagement data (error 45731 there).
const ENGAGEMENT_DATA_LIMIT: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(CHANNELS)
            .route(web::get().to(list_channels))
            .route(web::post().to(create_channel)),
    )
    .service(
        web::resource(format!("{CHANNELS}/{{sid}}"))
            .route(web::get().to(fetch_channel))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource(WEB_CHANNELS)
            .route(web::get().to(list_web_channels))
            .route(web::post().to(create_web_channel)),
    )
    .service(
        web::resource(format!("{WEB_CHANNELS}/{{sid}}"))
            .route(web::get().to(fetch_web_channel))
            .route(web::post().to(update_web_channel))
            .route(web::delete().to(delete)),
    );
}

async fn create_channel(
    _: Principal,
    state: web::Data<AppState>,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let flow_sid = form.require("FlexFlowSid")?;
    let identity = form.require("Identity")?;
    let user_name = form.require("ChatUserFriendlyName")?;
    let chat_name = form.require("ChatFriendlyName")?;
    let flow = flow(&state, flow_sid)?;
    // The customer is the Target when there is one (an SMS number for an outbound chat), the
    // chat identity otherwise; it is the key inbound messages find the channel by.
    let target = form.get("Target").filter(|t| !t.is_empty());
    let is_task_flow = flow.config.integration_type == IntegrationType::Task;
    let task_sid = form.get_sid("TaskSid", SidPrefix::TASK)?;
    let task_attributes = json_object(form.get("TaskAttributes"), "TaskAttributes")?;
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
        user_friendly_name: Some(user_name.to_owned()),
        friendly_name: Some(chat_name.to_owned()),
        unique_name: form.get("ChatUniqueName").filter(|n| !n.is_empty()).map(str::to_owned),
        pre_engagement_data: engagement_data(form.get("PreEngagementData"), "PreEngagementData")?,
        task_sid,
        task_attributes,
        long_lived: form.get_bool("LongLived")?,
    };
    let channel = open_channel(&state, flow, open).await?;
    Ok(HttpResponse::Created().json(channel_view(&state, &channel)))
}

async fn create_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let flow_sid = form.require("FlexFlowSid")?;
    let identity = form.require("Identity")?;
    let customer_name = form.require("CustomerFriendlyName")?;
    let chat_name = form.require("ChatFriendlyName")?;
    let flow = flow(&state, flow_sid)?;
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
        user_friendly_name: Some(customer_name.to_owned()),
        friendly_name: Some(chat_name.to_owned()),
        unique_name: form.get("ChatUniqueName").filter(|n| !n.is_empty()).map(str::to_owned),
        pre_engagement_data: engagement_data(form.get("PreEngagementData"), "PreEngagementData")?,
        task_sid: None,
        task_attributes: None,
        long_lived: None,
    };
    let channel = open_channel(&state, flow, open).await?;
    Ok(HttpResponse::Created().json(web_channel_view(&state, &channel)))
}

async fn fetch_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let channel = load(&state, &request).await?;
    Ok(HttpResponse::Ok().json(channel_view(&state, &channel)))
}

async fn fetch_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let channel = load(&state, &request).await?;
    Ok(HttpResponse::Ok().json(web_channel_view(&state, &channel)))
}

async fn list_channels(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (page, has_more) = flow_channels(&state, &paging).await?;
    let items = page.iter().map(|c| channel_view(&state, c)).collect();
    page_response(&state, &request, &paging, LIST_KEY, items, has_more)
}

async fn list_web_channels(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (page, has_more) = flow_channels(&state, &paging).await?;
    let items = page.iter().map(|c| web_channel_view(&state, c)).collect();
    page_response(&state, &request, &paging, LIST_KEY, items, has_more)
}

/// `ChatStatus=inactive` ends the chat: the channel goes INACTIVE and its open tasks are
/// canceled. `PostEngagementData` is kept in the channel's attributes.
async fn update_web_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let current = load(&state, &request).await?;
    let sid = current.sid.ok_or_else(ApiError::internal)?;
    let ending = match form.get("ChatStatus") {
        None => false,
        Some(status) if status.eq_ignore_ascii_case("inactive") => true,
        Some(other) => {
            return Err(ApiError::bad_param(format!("ChatStatus must be inactive, not {other:?}")))
        }
    };
    let post = engagement_data(form.get("PostEngagementData"), "PostEngagementData")?;
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
        state.engine.end_interaction(sid, "the customer ended the chat", with_post).await
    } else {
        let commands = with_post(&current);
        if commands.is_empty() {
            Ok(Ok(()))
        } else {
            state.engine.execute(sid, commands).await.map(|r| r.map(|_| ()))
        }
    };
    done.map_err(internal)?.map_err(rejected)?;
    let channel = load(&state, &request).await?;
    Ok(HttpResponse::Ok().json(web_channel_view(&state, &channel)))
}

/// Removes the channel from the API: its interaction ends (tasks canceled, channel INACTIVE),
/// its content is erased, and the customer's next message or call opens a new channel.
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let channel = load(&state, &request).await?;
    let sid = channel.sid.ok_or_else(ApiError::internal)?;
    let removed = state.engine.remove_channel(sid, "the channel was deleted").await;
    removed.map_err(internal)?.map_err(rejected)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn open_channel(
    state: &AppState,
    flow: FlowView,
    open: OpenChannel,
) -> Result<ChannelState, ApiError> {
    let unique_name = open.unique_name.clone();
    let opened = match state.engine.open_channel(flow, open).await.map_err(internal)? {
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
        Err(other) => return Err(rejected(other)),
    };
    match state.engine.channel(opened.channel_sid).await.map_err(internal)? {
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
    match state.engine.channel(sid).await.map_err(internal)? {
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
        .channel_listings(None)
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|l| l.flex_flow_sid.is_some())
        .map(|l| l.channel_sid)
        .collect();
    let range = paging.range(listed.len());
    let mut channels = Vec::with_capacity(range.len());
    for &sid in &listed[range.clone()] {
        if let Some(channel) = state.engine.channel(sid).await.map_err(internal)? {
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
        .and_then(|service| state.engine.users().by_identity(service, &member.identity).ok()?);
    Some(match user {
        Some(user) => user.sid.to_string(),
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

fn channel_view(state: &AppState, channel: &ChannelState) -> Value {
    let sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    json!({
        "account_sid": state.credentials.account_sid.to_string(),
        "flex_flow_sid": channel.flex_flow_sid.map(|s| s.to_string()),
        "sid": sid,
        "user_sid": user_sid(state, channel),
        "task_sid": task_sid(channel),
        "url": state.url(&format!("{CHANNELS}/{sid}")),
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
    })
}

fn web_channel_view(state: &AppState, channel: &ChannelState) -> Value {
    let sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    json!({
        "account_sid": state.credentials.account_sid.to_string(),
        "flex_flow_sid": channel.flex_flow_sid.map(|s| s.to_string()),
        "sid": sid,
        "url": state.url(&format!("{WEB_CHANNELS}/{sid}")),
        "date_created": iso(channel.date_created),
        "date_updated": iso(channel.date_updated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
