//! Chat v2 UserChannels: the channels a user is a member of, with unread counts; update its read
//! horizon or notification level, leave.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_actors::UserView;
use switchboard_domain::{ChannelCommand, ChannelState, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::typed_form::Form;

use super::users::find_user;

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_user_channels)
        .service(fetch_user_channel)
        .service(update_user_channel)
        .service(leave_user_channel);
}

/// The form of a UserChannel update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateUserChannelForm {
    /// The index of the last message read; empty (or `null`) for none.
    #[schema(value_type = Option<u64>)]
    last_consumed_message_index: Option<String>,
    /// Only `default`.
    notification_level: Option<String>,
}

/// A channel of a user, with its unread count.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserChannel {
    pub account_sid: String,
    pub service_sid: String,
    pub channel_sid: String,
    pub user_sid: String,
    pub member_sid: String,
    /// Always `joined`.
    pub status: String,
    pub last_consumed_message_index: Option<u64>,
    pub unread_messages_count: u64,
    /// Always `default`.
    pub notification_level: String,
    pub url: String,
    pub links: UserChannelLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserChannelLinks {
    pub channel: String,
    pub member: String,
}

crate::listing!(
    /// A page of a user's channels.
    UserChannelList, channels, UserChannel
);

/// The user's channels where the identity is still the member recorded (a channel erased or a
/// member removed while the user's record lagged is left out).
async fn joined_channels(
    state: &AppState,
    user: &UserView,
) -> Result<Vec<(ChannelState, Sid)>, ApiError> {
    let mut out = Vec::new();
    for (channel_sid, member_sid) in &user.channels {
        let Some(channel) = state.engine.channels().state(*channel_sid).await? else {
            continue;
        };
        let current = channel.members.get(member_sid).is_some_and(|m| m.identity == user.identity);
        if current && !channel.is_removed() {
            out.push((channel, *member_sid));
        }
    }
    Ok(out)
}

/// Lists the channels a user is a member of.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListUserChannel",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)"), PageParams),
    responses((status = 200, description = "A page of the user's channels", body = UserChannelList)),
)]
#[get("/chat/v2/Services/{service}/Users/{user}/Channels")]
async fn list_user_channels(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, user) = find_user(&state, &request)?;
    let paging = Paging::from_request(&request, 100)?;
    let items = joined_channels(&state, &user)
        .await?
        .iter()
        .map(|(channel, member)| user_channel_json(&state, &user, channel, *member))
        .collect();
    list_response::<UserChannelList>(&state, &request, &paging, items)
}

/// Fetches one of a user's channels.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchUserChannel",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)"), ("channel" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 200, description = "The user's channel", body = UserChannel)),
)]
#[get("/chat/v2/Services/{service}/Users/{user}/Channels/{channel}")]
async fn fetch_user_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (user, channel, member) = user_channel(&state, &request).await?;
    Ok(HttpResponse::Ok().json(user_channel_json(&state, &user, &channel, member)))
}

/// The user's channel of the path, as (channel, member).
async fn user_channel(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(UserView, ChannelState, Sid), ApiError> {
    let (_, user) = find_user(state, request)?;
    let key = request.match_info().get("channel").unwrap_or_default();
    let channel_sid = Sid::parse_with(key, SidPrefix::CHANNEL)
        .map_err(|_| ApiError::not_found(request.path()))?;
    let joined = joined_channels(state, &user).await?;
    let (channel, member) = joined
        .into_iter()
        .find(|(c, _)| c.sid == Some(channel_sid))
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok((user, channel, member))
}

/// Moves the read horizon (`LastConsumedMessageIndex`, empty for none). `NotificationLevel` is
/// not kept: `default` is accepted, `muted` refused rather than silently ignored.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateUserChannel",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)"), ("channel" = String, Path, description = "The channel (`CH…`)")),
    request_body(content = UpdateUserChannelForm, content_type = FORM),
    responses((status = 200, description = "The user's channel", body = UserChannel)),
)]
#[post("/chat/v2/Services/{service}/Users/{user}/Channels/{channel}")]
async fn update_user_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateUserChannelForm>,
) -> Result<HttpResponse, ApiError> {
    let (user, channel, member_sid) = user_channel(&state, &request).await?;
    let form = form.fields;
    match form.notification_level.as_deref() {
        None | Some("default") => {}
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "NotificationLevel {other:?} is not supported; only default"
            )))
        }
    }
    let channel_sid = channel.sid.ok_or_else(ApiError::internal)?;
    if let Some(text) = form.last_consumed_message_index {
        let index = super::read_horizon(&text)?;
        if index.is_some_and(|i| i >= channel.next_message_index) {
            return Err(ApiError::bad_param(
                "LastConsumedMessageIndex is past the channel's last message",
            ));
        }
        let command = ChannelCommand::UpdateReadHorizon { member_sid, last_consumed_index: index };
        crate::chat::run(&state, channel_sid, vec![command]).await?;
    }
    let channel = state
        .engine
        .channels()
        .state(channel_sid)
        .await?
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(user_channel_json(&state, &user, &channel, member_sid)))
}

/// Takes the user out of the channel (its member leaves).
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteUserChannel",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)"), ("channel" = String, Path, description = "The channel (`CH…`)")),
    responses((status = 204, description = "The member left")),
)]
#[delete("/chat/v2/Services/{service}/Users/{user}/Channels/{channel}")]
async fn leave_user_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, channel, member_sid) = user_channel(&state, &request).await?;
    let channel_sid = channel.sid.ok_or_else(ApiError::internal)?;
    crate::chat::run(&state, channel_sid, vec![ChannelCommand::RemoveMember { member_sid }])
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Messages after the member's read horizon; every message when the member has read none.
fn unread_count(channel: &ChannelState, horizon: Option<u64>) -> u64 {
    let from = horizon.map_or(0, |h| h.saturating_add(1));
    let next = channel.next_message_index;
    if from >= next {
        return 0;
    }
    let removed = channel.removed_messages.range(from..next).count() as u64;
    next - from - removed
}

fn user_channel_json(
    state: &AppState,
    user: &UserView,
    channel: &ChannelState,
    member_sid: Sid,
) -> UserChannel {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = user.service_sid;
    let horizon = channel.members.get(&member_sid).and_then(|m| m.last_consumed_index);
    let channel_url = state.url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}"));
    UserChannel {
        account_sid: state.credentials.account_sid.to_string(),
        service_sid: service.to_string(),
        user_sid: user.sid.to_string(),
        member_sid: member_sid.to_string(),
        status: "joined".to_owned(),
        last_consumed_message_index: horizon,
        unread_messages_count: unread_count(channel, horizon),
        notification_level: "default".to_owned(),
        url: state
            .url(&format!("/chat/v2/Services/{service}/Users/{}/Channels/{channel_sid}", user.sid)),
        links: UserChannelLinks {
            member: format!("{channel_url}/Members/{member_sid}"),
            channel: channel_url,
        },
        channel_sid,
    }
}
