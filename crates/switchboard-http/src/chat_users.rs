//! Chat v2 Users (by `US` SID or identity), a user's Channels (UserChannels, with unread
//! counts) and Roles (the four defaults and the service's own), in Twilio's shapes.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_actors::{NewUser, UserChange, UserRejection, UserView};
use switchboard_domain::{
    validate_permissions, ChannelCommand, ChannelState, Rejection, RoleKind, RoleState, Sid,
    SidPrefix,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::chat::{json_attributes, service_sid};
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::views::iso;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(fetch_user)
        .service(update_user)
        .service(delete_user)
        .service(list_user_channels)
        .service(fetch_user_channel)
        .service(update_user_channel)
        .service(leave_user_channel)
        .service(list_roles)
        .service(create_role)
        .service(fetch_role)
        .service(update_role)
        .service(delete_role);
}

/// The form of a user create.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateUserForm {
    /// Unique in the service (409, code 50201, otherwise).
    identity: String,
    friendly_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// A `deployment` role of the service (`RL…`).
    role_sid: Option<String>,
}

/// The form of a user update: what it names changes.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateUserForm {
    friendly_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// A `deployment` role of the service (`RL…`).
    role_sid: Option<String>,
}

/// The form of a UserChannel update.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateUserChannelForm {
    /// The index of the last message read; empty for none.
    last_consumed_message_index: Option<u64>,
    /// Only `default`.
    notification_level: Option<String>,
}

/// The form of a role create.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateRoleForm {
    /// At most 64 characters.
    friendly_name: String,
    /// `channel` or `deployment`.
    #[schema(rename = "Type")]
    kind: String,
    /// Repeated, one permission a key (`sendMessage`, `editOwnMessage`, …).
    permission: Vec<String>,
}

/// The form of a role update: `Permission` replaces the whole set.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateRoleForm {
    /// Repeated, one permission a key.
    permission: Vec<String>,
}

/// A Chat user.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    /// `US…`
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub identity: String,
    pub friendly_name: Option<String>,
    /// A JSON document, as a string.
    pub attributes: String,
    /// Its service role: its own, else the service's default.
    pub role_sid: Option<String>,
    /// Whether a connection of the identity whose token reaches this service is open; `null`
    /// unless the service's `reachability_enabled`.
    pub is_online: Option<bool>,
    /// Always `false` (no push registrations are kept); `null` unless the service's
    /// `reachability_enabled`.
    pub is_notifiable: Option<bool>,
    pub joined_channels_count: usize,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
    pub links: UserLinks,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserLinks {
    pub user_channels: String,
    pub user_bindings: String,
}

crate::listing!(
    /// A page of users.
    UserList, users, User
);

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

/// A role: the four defaults of every service, and its own.
#[derive(Debug, Serialize, ToSchema)]
pub struct Role {
    /// `RL…`
    pub sid: String,
    pub account_sid: String,
    pub service_sid: String,
    pub friendly_name: String,
    /// `channel` or `deployment`.
    #[serde(rename = "type")]
    pub kind: String,
    pub permissions: Vec<String>,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

crate::listing!(
    /// A page of roles.
    RoleList, roles, Role
);

/// A role given as `RoleSid` must be one of the service's, of the expected scope.
pub(crate) fn check_role(
    state: &AppState,
    service: Sid,
    role_sid: Option<Sid>,
    kind: RoleKind,
) -> Result<(), ApiError> {
    let Some(role_sid) = role_sid else { return Ok(()) };
    let found = state.engine.services().get(service).and_then(|s| s.roles.get(&role_sid).cloned());
    match found {
        Some(role) if role.kind == kind => Ok(()),
        Some(_) => {
            Err(ApiError::bad_param(format!("RoleSid {role_sid} is not a {} role", kind.as_str())))
        }
        None => {
            Err(ApiError::bad_param(format!("RoleSid {role_sid} is not a role of this service")))
        }
    }
}

fn user_rejected(rejection: UserRejection, path: &str) -> ApiError {
    match rejection {
        UserRejection::NotFound => ApiError::not_found(path),
        UserRejection::IdentityExists(_) => ApiError::conflict(50201, "User already exists"),
        UserRejection::Invalid(message) => ApiError::bad_param(message),
    }
}

/// Creates a user.
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateUser",
    params(crate::openapi::ServicePath),
    request_body(content = CreateUserForm, content_type = FORM),
    responses((status = 201, description = "The new user", body = User)),
)]
#[post("/chat/v2/Services/{service}/Users")]
async fn create_user(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: crate::twilio::form::TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::IDENTITY, lengths::USER_NAME])?;
    let service = service_sid(&state, &request)?;
    let role_sid = form.get_sid("RoleSid", SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Deployment)?;
    let new = NewUser {
        identity: form.require("Identity")?.to_owned(),
        friendly_name: form.get("FriendlyName").map(str::to_owned),
        attributes: json_attributes(form.get("Attributes"))?,
        role_sid,
    };
    let user = state
        .engine
        .users()
        .create(service, new, state.engine.now())
        .await?
        .map_err(|r| user_rejected(r, request.path()))?;
    Ok(HttpResponse::Created().json(user_json(&state, &user)))
}

/// A path segment as sent: actix leaves `%2B`, `%2F` and `%25` encoded, and identities such as
/// `+14155550100` need them decoded.
pub(crate) fn path_key(raw: &str) -> String {
    raw.replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%25", "%")
}

fn find_user(state: &AppState, request: &HttpRequest) -> Result<(Sid, UserView), ApiError> {
    let service = service_sid(state, request)?;
    let key = path_key(request.match_info().get("user").unwrap_or_default());
    let user = state.engine.users().find(service, &key)?;
    user.map(|u| (service, u)).ok_or_else(|| ApiError::not_found(request.path()))
}

/// Fetches a user, by SID or identity.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchUser",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)")),
    responses((status = 200, description = "The user", body = User)),
)]
#[get("/chat/v2/Services/{service}/Users/{user}")]
async fn fetch_user(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, user) = find_user(&state, &request)?;
    Ok(HttpResponse::Ok().json(user_json(&state, &user)))
}

/// Lists a service's users.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListUser",
    params(crate::openapi::ServicePath, PageParams),
    responses((status = 200, description = "A page of users", body = UserList)),
)]
#[get("/chat/v2/Services/{service}/Users")]
async fn list_users(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let service = service_sid(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let items = state.engine.users().list(service).iter().map(|u| user_json(&state, u)).collect();
    list_response::<UserList>(&state, &request, &paging, items)
}

/// Updates a user.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateUser",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)")),
    request_body(content = UpdateUserForm, content_type = FORM),
    responses((status = 200, description = "The user", body = User)),
)]
#[post("/chat/v2/Services/{service}/Users/{user}")]
async fn update_user(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: crate::twilio::form::TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::USER_NAME])?;
    let (service, user) = find_user(&state, &request)?;
    let role_sid = form.get_sid("RoleSid", SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Deployment)?;
    let change = UserChange {
        friendly_name: form.get("FriendlyName").map(str::to_owned),
        attributes: form.get("Attributes").map(|a| json_attributes(Some(a))).transpose()?,
        role_sid,
    };
    let user = state
        .engine
        .users()
        .update(service, user.sid, change, state.engine.now())
        .await?
        .map_err(|r| user_rejected(r, request.path()))?;
    Ok(HttpResponse::Ok().json(user_json(&state, &user)))
}

/// Deletes a user, with its memberships.
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteUser",
    params(crate::openapi::ServicePath, ("user" = String, Path, description = "The user: its SID (`US…`) or identity (URL-encoded)")),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/chat/v2/Services/{service}/Users/{user}")]
async fn delete_user(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, user) = find_user(&state, &request)?;
    // A user goes with its memberships, so no channel keeps a member whose user is gone.
    for (channel_sid, member_sid) in &user.channels {
        let command = ChannelCommand::RemoveMember { member_sid: *member_sid };
        match state.engine.execute(*channel_sid, vec![command]).await? {
            Ok(_) | Err(Rejection::MemberNotFound(_) | Rejection::ChannelErased) => {}
            Err(Rejection::ChannelNotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    state
        .engine
        .users()
        .delete(service, user.sid, state.engine.now())
        .await?
        .map_err(|r| user_rejected(r, request.path()))?;
    Ok(HttpResponse::NoContent().finish())
}

/// The user's channels where the identity is still the member recorded (a channel erased or a
/// member removed while the user's record lagged is left out).
async fn joined_channels(
    state: &AppState,
    user: &UserView,
) -> Result<Vec<(ChannelState, Sid)>, ApiError> {
    let mut out = Vec::new();
    for (channel_sid, member_sid) in &user.channels {
        let Some(channel) = state.engine.channel(*channel_sid).await? else {
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
    form: crate::twilio::form::TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let (user, channel, member_sid) = user_channel(&state, &request).await?;
    match form.get("NotificationLevel") {
        None | Some("default") => {}
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "NotificationLevel {other:?} is not supported; only default"
            )))
        }
    }
    let channel_sid = channel.sid.ok_or_else(ApiError::internal)?;
    if form.contains("LastConsumedMessageIndex") {
        let index = match form.get("LastConsumedMessageIndex") {
            Some("") | Some("null") => None,
            _ => form.get_u64("LastConsumedMessageIndex")?,
        };
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
        .channel(channel_sid)
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
pub(crate) fn unread_count(channel: &ChannelState, horizon: Option<u64>) -> u64 {
    let from = horizon.map_or(0, |h| h.saturating_add(1));
    let next = channel.next_message_index;
    if from >= next {
        return 0;
    }
    let removed = channel.removed_messages.range(from..next).count() as u64;
    next - from - removed
}

fn user_json(state: &AppState, user: &UserView) -> User {
    let base = state.url(&format!("/chat/v2/Services/{}/Users/{}", user.service_sid, user.sid));
    let reachability = state.engine.reachability(user.service_sid, &user.identity);
    User {
        sid: user.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        service_sid: user.service_sid.to_string(),
        identity: user.identity.clone(),
        friendly_name: user.friendly_name.clone(),
        attributes: user.attributes.clone(),
        role_sid: effective_user_role(state, user).map(|r| r.to_string()),
        is_online: reachability.map(|(online, _)| online),
        is_notifiable: reachability.map(|(_, notifiable)| notifiable),
        joined_channels_count: user.channels.len(),
        date_created: iso(user.date_created),
        date_updated: iso(user.date_updated),
        links: UserLinks {
            user_channels: format!("{base}/Channels"),
            user_bindings: format!("{base}/Bindings"),
        },
        url: base,
    }
}

/// A user's service role: its own, else the service's default (what Twilio shows).
fn effective_user_role(state: &AppState, user: &UserView) -> Option<Sid> {
    user.role_sid.or_else(|| {
        state
            .engine
            .services()
            .get(user.service_sid)
            .and_then(|s| s.role(switchboard_domain::DefaultRole::ServiceUser).map(|r| r.sid))
    })
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

fn role_json(state: &AppState, service: Sid, role: &RoleState) -> Role {
    Role {
        sid: role.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        service_sid: service.to_string(),
        friendly_name: role.friendly_name.clone(),
        kind: role.kind.as_str().to_owned(),
        permissions: role.permissions.clone(),
        date_created: iso(role.date_created),
        date_updated: iso(role.date_updated),
        url: state.url(&format!("/chat/v2/Services/{service}/Roles/{}", role.sid)),
    }
}

fn find_role(state: &AppState, request: &HttpRequest) -> Result<(Sid, RoleState), ApiError> {
    let service = service_sid(state, request)?;
    let key = request.match_info().get("role").unwrap_or_default();
    let sid =
        Sid::parse_with(key, SidPrefix::ROLE).map_err(|_| ApiError::not_found(request.path()))?;
    let role = state.engine.services().get(service).and_then(|s| s.roles.get(&sid).cloned());
    role.map(|r| (service, r)).ok_or_else(|| ApiError::not_found(request.path()))
}

/// Creates a role.
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateRole",
    params(crate::openapi::ServicePath),
    request_body(content = CreateRoleForm, content_type = FORM),
    responses((status = 201, description = "The new role", body = Role)),
)]
#[post("/chat/v2/Services/{service}/Roles")]
async fn create_role(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: crate::twilio::form::TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let service = service_sid(&state, &request)?;
    let friendly_name = form.require("FriendlyName")?.to_owned();
    if friendly_name.chars().count() > 64 {
        return Err(ApiError::bad_param("FriendlyName is longer than 64 characters"));
    }
    let kind_text = form.require("Type")?;
    let kind = RoleKind::parse(kind_text).ok_or_else(|| {
        ApiError::bad_param(format!("Type must be channel or deployment, not {kind_text:?}"))
    })?;
    let permissions =
        validate_permissions(kind, &form.all("Permission")).map_err(ApiError::bad_param)?;
    let role = state
        .engine
        .services()
        .create_role(service, friendly_name, kind, permissions, state.engine.now())
        .await?
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Created().json(role_json(&state, service, &role)))
}

/// Fetches a role.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchRole",
    params(crate::openapi::ServicePath, ("role" = String, Path, description = "The role (`RL…`)")),
    responses((status = 200, description = "The role", body = Role)),
)]
#[get("/chat/v2/Services/{service}/Roles/{role}")]
async fn fetch_role(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, role) = find_role(&state, &request)?;
    Ok(HttpResponse::Ok().json(role_json(&state, service, &role)))
}

/// Lists a service's roles, the defaults first.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListRole",
    params(crate::openapi::ServicePath, PageParams),
    responses((status = 200, description = "A page of roles", body = RoleList)),
)]
#[get("/chat/v2/Services/{service}/Roles")]
async fn list_roles(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let service = service_sid(&state, &request)?;
    let paging = Paging::from_request(&request, 100)?;
    let view =
        state.engine.services().get(service).ok_or_else(|| ApiError::not_found(request.path()))?;
    let mut roles: Vec<&RoleState> = view.roles.values().collect();
    roles.sort_by_key(|r| (r.date_created, !r.default, r.sid));
    let items = roles.iter().map(|r| role_json(&state, service, r)).collect();
    list_response::<RoleList>(&state, &request, &paging, items)
}

/// Replaces a role's permissions.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateRole",
    params(crate::openapi::ServicePath, ("role" = String, Path, description = "The role (`RL…`)")),
    request_body(content = UpdateRoleForm, content_type = FORM),
    responses((status = 200, description = "The role", body = Role)),
)]
#[post("/chat/v2/Services/{service}/Roles/{role}")]
async fn update_role(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: crate::twilio::form::TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let (service, role) = find_role(&state, &request)?;
    let permissions =
        validate_permissions(role.kind, &form.all("Permission")).map_err(ApiError::bad_param)?;
    let role = state
        .engine
        .services()
        .update_role(service, role.sid, permissions, state.engine.now())
        .await?
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(role_json(&state, service, &role)))
}

/// Deletes a role (not a default one, nor one in use).
#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteRole",
    params(crate::openapi::ServicePath, ("role" = String, Path, description = "The role (`RL…`)")),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/chat/v2/Services/{service}/Roles/{role}")]
async fn delete_role(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, role) = find_role(&state, &request)?;
    if role.default {
        return Err(ApiError::bad_param(format!(
            "Role {} is one of the service's default roles and cannot be deleted",
            role.sid
        )));
    }
    if role_in_use(&state, service, role.sid).await? {
        return Err(ApiError::bad_param(format!(
            "Role {} is assigned to users or members; assign them another role first",
            role.sid
        )));
    }
    state.engine.services().delete_role(service, role.sid, state.engine.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether a user or a member of a channel of the service holds the role. Reads the service's
/// channels (from the janitor's listing): deleting a role is rare, and members' roles are kept
/// only in their channels.
async fn role_in_use(state: &AppState, service: Sid, role_sid: Sid) -> Result<bool, ApiError> {
    if state.engine.users().role_in_use(service, role_sid) {
        return Ok(true);
    }
    for listed in state.engine.channel_listings(Some(service)).await? {
        let channel = state.engine.channel(listed.channel_sid).await?;
        if channel.is_some_and(|c| c.members.values().any(|m| m.role_sid == Some(role_sid))) {
            return Ok(true);
        }
    }
    Ok(false)
}
