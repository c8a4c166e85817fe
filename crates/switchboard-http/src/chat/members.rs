//! Chat v2 Members of a channel: add, list, fetch, update (`RoleSid`, `LastConsumedMessageIndex`,
//! `Attributes`), remove.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_domain::{ChannelCommand, ChannelState, MemberState, RoleKind, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::{ChannelPath, FORM};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};
use crate::views::{self, Member, MemberList};

use super::roles::check_role;
use super::{json_attributes, load_channel, run};

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_members)
        .service(add_member)
        .service(fetch_member)
        .service(update_member)
        .service(remove_member);
}

/// The form of a member add.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateMemberForm {
    identity: String,
    /// A `channel` role of the service (`RL…`).
    role_sid: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
}

/// The form of a member update: what it names changes.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateMemberForm {
    /// A `channel` role of the service (`RL…`).
    role_sid: Option<String>,
    /// The index of the last message read; empty (or `null`) for none.
    #[schema(value_type = Option<u64>)]
    last_consumed_message_index: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
}

/// Adds a member to a channel (409, code 50404, when the identity is one already).
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateMember",
    params(crate::openapi::ChannelPath),
    request_body(content = CreateMemberForm, content_type = FORM),
    responses((status = 201, description = "The new member", body = Member)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Members")]
async fn add_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: Form<CreateMemberForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::IDENTITY])?;
    let ChannelPath { service, channel: sid } = path;
    let form = form.fields;
    let identity = form.identity;
    let member_sid = switchboard_actors::new_sid(SidPrefix::MEMBER);
    let role_sid = sid_field("RoleSid", form.role_sid.as_deref(), SidPrefix::ROLE)?;
    super::roles::check_role(&state, service, role_sid, switchboard_domain::RoleKind::Channel)?;
    let command = ChannelCommand::AddMember {
        member_sid,
        identity,
        role_sid,
        attributes: json_attributes(form.attributes.as_deref())?,
    };
    run(&state, sid, vec![command]).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let member = channel.members.get(&member_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Created().json(views::member(&state, &channel, member_sid, member)))
}

/// Lists a channel's members.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListMember",
    params(crate::openapi::ChannelPath, ("Identity" = Option<Vec<String>>, Query, description = "Only these identities, repeated", explode = true), PageParams),
    responses((status = 200, description = "A page of members", body = MemberList)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Members")]
async fn list_members(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let paging = Paging::from_request(&request, 100)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let identities = paging.filters("Identity");
    let items = channel
        .members
        .iter()
        .filter(|(_, m)| identities.is_empty() || identities.contains(&m.identity.as_str()))
        .map(|(member_sid, m)| views::member(&state, &channel, *member_sid, m))
        .collect();
    list_response::<MemberList>(&state, &request, &paging, items)
}

/// Fetches a member, by SID or identity.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchMember",
    params(crate::openapi::ChannelPath, ("member" = String, Path, description = "The member: its SID (`MB…`) or identity")),
    responses((status = 200, description = "The member", body = Member)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Members/{member}")]
async fn fetch_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let key = request.match_info().get("member").unwrap_or_default();
    let found = match Sid::parse_with(key, SidPrefix::MEMBER) {
        Ok(member_sid) => channel.members.get(&member_sid).map(|m| (member_sid, m)),
        Err(_) => channel.member_by_identity(key),
    };
    let (member_sid, member) = found.ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::member(&state, &channel, member_sid, member)))
}

/// The member of the path, by `MB` SID or identity.
fn member_of(
    channel: &ChannelState,
    request: &HttpRequest,
) -> Result<(Sid, MemberState), ApiError> {
    let key = super::users::path_key(request.match_info().get("member").unwrap_or_default());
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
async fn update_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: Form<UpdateMemberForm>,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let (member_sid, member) = member_of(&channel, &request)?;
    let form = form.fields;
    let role_sid = sid_field("RoleSid", form.role_sid.as_deref(), SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Channel)?;
    let attributes = form.attributes.map(|a| json_attributes(Some(&a))).transpose()?;
    let mut commands = Vec::new();
    if role_sid.is_some() || attributes.is_some() {
        commands.push(ChannelCommand::UpdateMember { member_sid, role_sid, attributes });
    }
    if let Some(text) = form.last_consumed_message_index {
        let index = super::read_horizon(&text)?;
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
async fn remove_member(
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
