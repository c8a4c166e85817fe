//! Chat v2 Users of a service, by `US` SID or identity: create, fetch, list, update, delete.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_actors::{NewUser, UserChange, UserRejection, UserView};
use switchboard_domain::{ChannelCommand, Rejection, RoleKind, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{page_response, PageParams, Paging};
use crate::openapi::ServicePath;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};
use crate::views::iso;

use super::roles::check_role;
use super::{json_attributes, service_sid};

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(fetch_user)
        .service(update_user)
        .service(delete_user);
}

/// The form of a user create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
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
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateUserForm {
    friendly_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// A `deployment` role of the service (`RL…`).
    role_sid: Option<String>,
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
    path: ServicePath,
    request: HttpRequest,
    form: Form<CreateUserForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::IDENTITY, lengths::USER_NAME])?;
    let service = path.service;
    let form = form.fields;
    let role_sid = sid_field("RoleSid", form.role_sid.as_deref(), SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Deployment)?;
    let new = NewUser {
        identity: form.identity,
        friendly_name: form.friendly_name,
        attributes: json_attributes(form.attributes.as_deref())?,
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
pub(super) fn path_key(raw: &str) -> String {
    raw.replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%25", "%")
}

pub(super) fn find_user(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, UserView), ApiError> {
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
    path: ServicePath,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let service = path.service;
    let paging = Paging::from_request(&request, 1000)?;
    // Listed from the directory's roster, so only the users of this page are read.
    let listed = state.engine.users().list(service);
    let range = paging.range(listed.len());
    let mut page = Vec::with_capacity(range.len());
    for &sid in &listed[range.clone()] {
        if let Some(user) = state.engine.users().get(service, sid)? {
            page.push(user_json(&state, &user));
        }
    }
    page_response::<UserList>(&state, &request, &paging, page, listed.len() > range.end)
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
    form: Form<UpdateUserForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::USER_NAME])?;
    let (service, user) = find_user(&state, &request)?;
    let form = form.fields;
    let role_sid = sid_field("RoleSid", form.role_sid.as_deref(), SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Deployment)?;
    let change = UserChange {
        friendly_name: form.friendly_name,
        attributes: form.attributes.map(|a| json_attributes(Some(&a))).transpose()?,
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
        match state.engine.channels().execute(*channel_sid, vec![command]).await? {
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

fn user_json(state: &AppState, user: &UserView) -> User {
    let base = state.url(&format!("/chat/v2/Services/{}/Users/{}", user.service_sid, user.sid));
    let reachability = state.engine.presence().reachability(user.service_sid, &user.identity);
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
