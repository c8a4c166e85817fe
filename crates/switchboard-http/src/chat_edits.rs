//! Chat v2 changes to what a channel holds, over REST with the account's credentials: Members
//! update (`RoleSid`, `LastConsumedMessageIndex`, `Attributes`) and removal; Messages update
//! (`Body`, `Attributes`) and removal; the channel's deletion. Each is an event in the channel's
//! log, published to the members like any other.

use actix_web::{delete, post, web, HttpRequest, HttpResponse};
use switchboard_domain::{ChannelCommand, ChannelState, MemberState, RoleKind, Sid, SidPrefix};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::chat::{json_attributes, load_channel, run};
use crate::chat_users::check_role;
use crate::openapi::ChannelPath;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::twilio::lengths;
use crate::views::{self, Member, Message};

/// The form of a member update: what it names changes.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateMemberForm {
    /// A `channel` role of the service (`RL…`).
    role_sid: Option<String>,
    /// The index of the last message read; empty for none.
    last_consumed_message_index: Option<u64>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
}

/// The form of a message edit.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateMessageForm {
    /// At most 32 768 characters.
    body: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// Who edits it (its `last_updated_by`; default `system`).
    from: Option<String>,
}

/// The member of the path, by `MB` SID or identity.
fn member_of(
    channel: &ChannelState,
    request: &HttpRequest,
) -> Result<(Sid, MemberState), ApiError> {
    let key = crate::chat_users::path_key(request.match_info().get("member").unwrap_or_default());
    let found = match Sid::parse_with(&key, SidPrefix::MEMBER) {
        Ok(sid) => channel.members.get(&sid).map(|m| (sid, m.clone())),
        Err(_) => channel.member_by_identity(&key).map(|(sid, m)| (sid, m.clone())),
    };
    found.ok_or_else(|| ApiError::not_found(request.path()))
}

/// Updates a member: its role, read horizon and attributes.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateMember",
    params(crate::openapi::ChannelPath, ("member" = String, Path, description = "The member: its SID (`MB…`) or identity")),
    request_body(content = UpdateMemberForm, content_type = FORM),
    responses((status = 200, description = "The member", body = Member)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Members/{member}")]
pub(crate) async fn update_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let (member_sid, member) = member_of(&channel, &request)?;
    let role_sid = form.get_sid("RoleSid", SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Channel)?;
    let attributes = form.get("Attributes").map(|a| json_attributes(Some(a))).transpose()?;
    let mut commands = Vec::new();
    if role_sid.is_some() || attributes.is_some() {
        commands.push(ChannelCommand::UpdateMember { member_sid, role_sid, attributes });
    }
    if form.contains("LastConsumedMessageIndex") {
        // An empty value clears the horizon ("nothing read"), as Twilio's null does.
        let index = match form.get("LastConsumedMessageIndex") {
            Some("") | Some("null") => None,
            _ => form.get_u64("LastConsumedMessageIndex")?,
        };
        if index.is_some_and(|i| i >= channel.next_message_index) {
            return Err(ApiError::bad_param(
                "LastConsumedMessageIndex is past the channel's last message",
            ));
        }
        if index != member.last_consumed_index {
            commands
                .push(ChannelCommand::UpdateReadHorizon { member_sid, last_consumed_index: index });
        }
    }
    run(&state, sid, commands).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let member = channel.members.get(&member_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(views::member(&state, &channel, member_sid, member)))
}

/// Removes a member from its channel.
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteMember",
    params(crate::openapi::ChannelPath, ("member" = String, Path, description = "The member: its SID (`MB…`) or identity")),
    responses((status = 204, description = "Removed")),
)]
#[delete("/chat/v2/Services/{service}/Channels/{channel}/Members/{member}")]
pub(crate) async fn remove_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let (member_sid, _) = member_of(&channel, &request)?;
    run(&state, sid, vec![ChannelCommand::RemoveMember { member_sid }]).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The index of the message of the path (`IM` SID), if it exists now.
fn message_index(
    state: &AppState,
    channel: &ChannelState,
    request: &HttpRequest,
) -> Result<u64, ApiError> {
    let key = request.match_info().get("message").unwrap_or_default();
    let message_sid = Sid::parse_with(key, SidPrefix::MESSAGE)
        .map_err(|_| ApiError::not_found(request.path()))?;
    let message = state.engine.message_by_sid(channel, message_sid)?;
    message.map(|m| m.index).ok_or_else(|| ApiError::not_found(request.path()))
}

/// Edits a message's body or attributes.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateMessage",
    params(crate::openapi::ChannelPath, ("message" = String, Path, description = "The message (`IM…`)")),
    request_body(content = UpdateMessageForm, content_type = FORM),
    responses((status = 200, description = "The message", body = Message)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Messages/{message}")]
pub(crate) async fn update_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::AUTHOR, lengths::LAST_UPDATED_BY])?;
    let ChannelPath { service, channel: sid } = path;
    let current = load_channel(&state, service, sid, request.path()).await?;
    let index = message_index(&state, &current, &request)?;
    let body = form.get("Body").map(str::to_owned);
    if let Some(body) = &body {
        lengths::check_body(body)?;
    }
    let attributes = form.get("Attributes").map(|a| json_attributes(Some(a))).transpose()?;
    if body.is_some() || attributes.is_some() {
        let edited_by =
            Some(form.get("From").filter(|f| !f.is_empty()).unwrap_or("system").to_owned());
        run(&state, sid, vec![ChannelCommand::EditMessage { index, body, attributes, edited_by }])
            .await?;
    }
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let message = state.engine.message(&channel, index)?;
    let message = message.ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(views::message(&state, &channel, &message)))
}

/// Removes a message.
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteMessage",
    params(crate::openapi::ChannelPath, ("message" = String, Path, description = "The message (`IM…`)")),
    responses((status = 204, description = "Removed")),
)]
#[delete("/chat/v2/Services/{service}/Channels/{channel}/Messages/{message}")]
pub(crate) async fn remove_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let index = message_index(&state, &channel, &request)?;
    run(&state, sid, vec![ChannelCommand::RemoveMessage { index }]).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE …/Channels/{CH or unique name}`: 204 once the deletion is durable. Open tasks are
/// canceled ("the channel was deleted"), then the channel is destroyed (`channel_destroyed`):
/// found and listed nowhere, members and customer released, its log kept for audit.
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteChannel",
    params(crate::openapi::ChannelPath),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/chat/v2/Services/{service}/Channels/{channel}")]
pub(crate) async fn delete_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    load_channel(&state, service, sid, request.path()).await?;
    let reason = "the channel was deleted".to_owned();
    run(&state, sid, vec![ChannelCommand::Destroy { reason }]).await?;
    Ok(HttpResponse::NoContent().finish())
}
