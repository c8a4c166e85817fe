//! Chat v2 channel Invites (`/chat/v2/Services/{IS}/Channels/{CH}/Invites[/{IN}]`): create, list
//! (`Identity` filter), fetch and delete, in Twilio's shapes. An invite is a channel event
//! (`invite_added`, `invite_removed`); the invited identity hears of it on its WebSocket and may
//! then `join` the channel, private or not, in the invite's role, which takes the invite up.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use switchboard_domain::{ChannelCommand, ChannelState, InviteState, RoleKind, Sid, SidPrefix};

use crate::auth::Principal;
use crate::chat::{channel_path, load_channel, run};
use crate::chat_users::check_role;
use crate::lists::{list_response, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::views::iso;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/chat/v2/Services/{service}/Channels/{channel}/Invites";
    cfg.service(
        web::resource(base).route(web::get().to(list_invites)).route(web::post().to(create_invite)),
    )
    .service(
        web::resource(format!("{base}/{{invite}}"))
            .route(web::get().to(fetch_invite))
            .route(web::delete().to(delete_invite)),
    );
}

/// 201 with the invite; an identity already invited gets its invite again (a retry makes no
/// second one), a member 409 (50404).
async fn create_invite(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    load_channel(&state, service, sid, request.path()).await?;
    let identity = form.require("Identity")?.to_owned();
    let role_sid = form.get_sid("RoleSid", SidPrefix::ROLE)?;
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

async fn list_invites(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
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
    list_response(&state, &request, &paging, "invites", items)
}

async fn fetch_invite(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (channel, invite_sid) = existing(&state, &request).await?;
    let invite = channel.invites.get(&invite_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(view(&state, &channel, invite_sid, invite)))
}

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
    let (service, sid) = channel_path(state, request)?;
    let channel = load_channel(state, service, sid, request.path()).await?;
    let key = request.match_info().get("invite").unwrap_or_default();
    match Sid::parse_with(key, SidPrefix::INVITE) {
        Ok(invite_sid) if channel.invites.contains_key(&invite_sid) => Ok((channel, invite_sid)),
        _ => Err(ApiError::not_found(request.path())),
    }
}

/// An invite as Twilio renders it.
fn view(state: &AppState, channel: &ChannelState, sid: Sid, invite: &InviteState) -> Value {
    let channel_sid = channel.sid.map(|s| s.to_string()).unwrap_or_default();
    let service = channel.service_sid.map(|s| s.to_string()).unwrap_or_default();
    json!({
        "sid": sid.to_string(),
        "account_sid": state.credentials.account_sid.to_string(),
        "channel_sid": channel_sid,
        "service_sid": service,
        "identity": invite.identity,
        "role_sid": invite.role_sid.map(|r| r.to_string()),
        "created_by": invite.created_by,
        "date_created": iso(invite.date_created),
        "date_updated": iso(invite.date_created),
        "url": state.url(&format!("/chat/v2/Services/{service}/Channels/{channel_sid}/Invites/{sid}")),
    })
}
