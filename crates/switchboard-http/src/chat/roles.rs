//! Chat v2 Roles of a service: the four defaults and the service's own; create, fetch, list,
//! update, delete.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_domain::{validate_permissions, RoleKind, RoleState, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::ServicePath;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::typed_form::Form;
use crate::views::iso;

use super::service_sid;

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_roles)
        .service(create_role)
        .service(fetch_role)
        .service(update_role)
        .service(delete_role);
}

/// The form of a role create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateRoleForm {
    /// At most 64 characters.
    friendly_name: String,
    /// `channel` or `deployment`.
    #[serde(rename = "Type")]
    kind: String,
    /// Repeated, one permission a key (`sendMessage`, `editOwnMessage`, …).
    #[serde(default)]
    permission: Vec<String>,
}

/// The form of a role update: `Permission` replaces the whole set.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateRoleForm {
    /// Repeated, one permission a key.
    #[serde(default)]
    permission: Vec<String>,
}

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
pub(super) fn check_role(
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
    path: ServicePath,
    request: HttpRequest,
    form: Form<CreateRoleForm>,
) -> Result<HttpResponse, ApiError> {
    let service = path.service;
    let CreateRoleForm { friendly_name, kind: kind_text, permission } = form.fields;
    if friendly_name.chars().count() > 64 {
        return Err(ApiError::bad_param("FriendlyName is longer than 64 characters"));
    }
    let kind = RoleKind::parse(&kind_text).ok_or_else(|| {
        ApiError::bad_param(format!("Type must be channel or deployment, not {kind_text:?}"))
    })?;
    let permission: Vec<&str> = permission.iter().map(String::as_str).collect();
    let permissions = validate_permissions(kind, &permission).map_err(ApiError::bad_param)?;
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
    path: ServicePath,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let service = path.service;
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
    form: Form<UpdateRoleForm>,
) -> Result<HttpResponse, ApiError> {
    let (service, role) = find_role(&state, &request)?;
    let permission: Vec<&str> = form.permission.iter().map(String::as_str).collect();
    let permissions = validate_permissions(role.kind, &permission).map_err(ApiError::bad_param)?;
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
    for listed in state.engine.channels().listings(Some(service)).await? {
        let channel = state.engine.channels().state(listed.channel_sid).await?;
        if channel.is_some_and(|c| c.members.values().any(|m| m.role_sid == Some(role_sid))) {
            return Ok(true);
        }
    }
    Ok(false)
}
