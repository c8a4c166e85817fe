//! Chat v2 channel Invites (`/chat/v2/Services/{IS}/Channels/{CH}/Invites[/{IN}]`): create, list
//! (`Identity` filter), fetch and delete, in Twilio's shapes. An invite is a channel event
//! (`invite_added`, `invite_removed`); the invited identity hears of it on its WebSocket and may
//! then `join` the channel, private or not, in the invite's role, which takes the invite up.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use switchboard_domain::{ChannelCommand, ChannelState, InviteState, RoleKind, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::roles::check_role;
use super::{load_channel, run};
use crate::auth::Principal;
use crate::lists::{list_response, Paging};
use crate::openapi::ChannelPath;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};
use crate::views::iso;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_invites).service(create_invite).service(fetch_invite).service(delete_invite);
}

/// The form of an invite create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateInviteForm {
    /// The identity invited.
    identity: String,
    /// A channel role (`RL…`) the identity joins in; the service's default channel role if unset.
    role_sid: Option<String>,
}

/// An invite to a channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct Invite {
    /// `IN…`
    pub sid: String,
    pub account_sid: String,
    pub channel_sid: String,
    pub service_sid: String,
    pub identity: String,
    pub role_sid: Option<String>,
    pub created_by: Option<String>,
    pub date_created: String,
    pub date_updated: String,
    pub url: String,
}

crate::listing!(
    /// A page of a channel's invites.
    InviteList, invites, Invite
);

/// 201 with the invite; an identity already invited gets its invite again (a retry makes no
/// second one), a member 409 (50404).
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateInvite",
    params(crate::openapi::ChannelPath),
    request_body(content = CreateInviteForm, content_type = FORM),
    responses((status = 201, description = "The invite", body = Invite)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Invites")]
async fn create_invite(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: Form<CreateInviteForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::IDENTITY])?;
    let ChannelPath { service, channel: sid } = path;
    load_channel(&state, service, sid, request.path()).await?;
    let CreateInviteForm { identity, role_sid } = form.fields;
    let role_sid = sid_field("RoleSid", role_sid.as_deref(), SidPrefix::ROLE)?;
    check_role(&state, service, role_sid, RoleKind::Channel)?;
    let command = ChannelCommand::AddInvite {
        invite_sid: switchboard_actors::new_sid(SidPrefix::INVITE),
        identity: identity.clone(),
        role_sid,
        created_by: None,
    };
    run(&state, sid, vec![command]).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let (invite_sid, invite) =
        channel.invite_by_identity(&identity).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Created().json(view(&state, &channel, invite_sid, invite)))
}

/// A channel's invites, oldest first (`Identity` filters, repeatable).
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListInvites",
    params(crate::openapi::ChannelPath, ("Identity" = Option<Vec<String>>, Query, description = "Only these identities' invites"), crate::lists::PageParams),
    responses((status = 200, description = "A page of invites", body = InviteList)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Invites")]
async fn list_invites(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let paging = Paging::from_request(&request, 100)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let identities = paging.filters("Identity");
    let mut invites: Vec<(&Sid, &InviteState)> = channel
        .invites
        .iter()
        .filter(|(_, i)| identities.is_empty() || identities.contains(&i.identity.as_str()))
        .collect();
    // Oldest first.
    invites.sort_by_key(|(sid, i)| (i.date_created, **sid));
    let items = invites.into_iter().map(|(s, i)| view(&state, &channel, *s, i)).collect();
    list_response::<InviteList>(&state, &request, &paging, items)
}

#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchInvite",
    params(crate::openapi::ChannelPath, ("invite" = String, Path, description = "The invite (`IN…`)")),
    responses((status = 200, description = "The invite", body = Invite)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Invites/{invite}")]
async fn fetch_invite(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (channel, invite_sid) = existing(&state, &request).await?;
    let invite = channel.invites.get(&invite_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(view(&state, &channel, invite_sid, invite)))
}

#[utoipa::path(
    tag = "Chat",
    operation_id = "DeleteInvite",
    params(crate::openapi::ChannelPath, ("invite" = String, Path, description = "The invite (`IN…`)")),
    responses((status = 204, description = "Removed")),
)]
#[delete("/chat/v2/Services/{service}/Channels/{channel}/Invites/{invite}")]
async fn delete_invite(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (channel, invite_sid) = existing(&state, &request).await?;
    let sid = channel.sid.ok_or_else(ApiError::internal)?;
    run(&state, sid, vec![ChannelCommand::RemoveInvite { invite_sid }]).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The channel of the path and the invite it names, or 404 in Twilio's shape for either.
async fn existing(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(ChannelState, Sid), ApiError> {
    super::channel_and_child(state, request, "invite", SidPrefix::INVITE, |c, sid| {
        c.invites.contains_key(sid)
    })
    .await
}

/// An invite as Twilio renders it.
fn view(state: &AppState, channel: &ChannelState, sid: Sid, invite: &InviteState) -> Invite {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    Invite {
        sid: sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        url: state
            .url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}/Invites/{sid}")),
        channel_sid,
        service_sid: service,
        identity: invite.identity.clone(),
        role_sid: invite.role_sid.map(|r| r.to_string()),
        created_by: invite.created_by.clone(),
        date_created: iso(invite.date_created),
        date_updated: iso(invite.date_created),
    }
}
