//! Chat v2 Channels of a service: create, list by `Type`, fetch by SID or unique name, update,
//! delete.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use switchboard_domain::{ChannelCommand, ChannelKind, ChannelStatus, NewChannel, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{page_response, PageParams, Paging};
use crate::openapi::ServicePath;
use crate::openapi::{ChannelPath, FORM};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::Form;
use crate::views::{self, Channel, ChannelList};

use super::{json_attributes, load_channel, run};

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_channels)
        .service(create_channel)
        .service(fetch_channel)
        .service(update_channel)
        .service(delete_channel);
}

/// The form of a channel create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateChannelForm {
    friendly_name: Option<String>,
    /// Unique in the service (409, code 50307, otherwise).
    unique_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// `public` (default) or `private`.
    #[serde(rename = "Type")]
    kind: Option<String>,
    /// Default `system`.
    created_by: Option<String>,
}

/// The form of a channel update. A Flex `status` of `INACTIVE` in the attributes deactivates
/// the channel, `ACTIVE` reactivates it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateChannelForm {
    friendly_name: Option<String>,
    unique_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
}

/// Creates a channel.
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateChannel",
    params(crate::openapi::ServicePath),
    request_body(content = CreateChannelForm, content_type = FORM),
    responses((status = 201, description = "The new channel", body = Channel)),
)]
#[post("/chat/v2/Services/{service}/Channels")]
async fn create_channel(
    _: Principal,
    state: web::Data<AppState>,
    path: ServicePath,
    request: HttpRequest,
    form: Form<CreateChannelForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(
        &form.raw,
        &[lengths::CHANNEL_NAME_CREATE, lengths::UNIQUE_NAME_CREATE, lengths::CREATED_BY],
    )?;
    let service = path.service;
    let form = form.fields;
    let kind = match form.kind.as_deref() {
        None | Some("public") => ChannelKind::Public,
        Some("private") => ChannelKind::Private,
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "Type must be public or private, not {other:?}"
            )))
        }
    };
    let unique_name = form.unique_name;
    if let Some(name) = &unique_name {
        if state.engine.channels().named(service, name)?.is_some() {
            return Err(ApiError::conflict(
                50307,
                format!("Channel with provided unique name {name:?} already exists"),
            ));
        }
    }
    let attributes = json_attributes(form.attributes.as_deref())?;
    let sid = switchboard_actors::new_sid(SidPrefix::CHANNEL);
    let new = NewChannel {
        channel_sid: sid,
        service_sid: service,
        kind,
        friendly_name: form.friendly_name,
        unique_name,
        attributes,
        created_by: form.created_by.unwrap_or_else(|| "system".to_owned()),
        flex_flow_sid: None,
        customer_address: None,
        long_lived: false,
        janitor_enabled: false,
        carried_provider_messages: Vec::new(),
    };
    run(&state, sid, vec![ChannelCommand::Create(new)]).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    Ok(HttpResponse::Created().json(views::channel(&state, sid, &channel)))
}

/// Lists a service's channels: public ones unless `Type` asks for others.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListChannel",
    params(crate::openapi::ServicePath, ("Type" = Option<Vec<String>>, Query, description = "`public` and/or `private`, repeated; default `public`", explode = true), PageParams),
    responses((status = 200, description = "A page of channels", body = ChannelList)),
)]
#[get("/chat/v2/Services/{service}/Channels")]
async fn list_channels(
    _: Principal,
    state: web::Data<AppState>,
    path: ServicePath,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let service = path.service;
    let paging = Paging::from_request(&request, 100)?;
    let types = paging.filters("Type");
    for kind in &types {
        if !matches!(*kind, "public" | "private") {
            return Err(ApiError::bad_param(format!(
                "Type must be public or private, not {kind:?}"
            )));
        }
    }
    // Twilio lists public channels unless asked for private ones.
    let wanted = |kind: Option<ChannelKind>| {
        let name = if kind == Some(ChannelKind::Private) { "private" } else { "public" };
        if types.is_empty() {
            name == "public"
        } else {
            types.contains(&name)
        }
    };
    // Filtered from the janitor's listing, so only the channels of this page are loaded.
    let listed: Vec<Sid> = state
        .engine
        .channels()
        .listings(Some(service))
        .await?
        .into_iter()
        .filter(|l| wanted(Some(l.kind)))
        .map(|l| l.channel_sid)
        .collect();
    let range = paging.range(listed.len());
    let mut page = Vec::with_capacity(range.len());
    for &sid in &listed[range.clone()] {
        if let Some(channel) = state.engine.channels().state(sid).await? {
            page.push(views::channel(&state, sid, &channel));
        }
    }
    page_response::<ChannelList>(&state, &request, &paging, page, listed.len() > range.end)
}

/// Fetches a channel, by SID or unique name.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchChannel",
    params(crate::openapi::ChannelPath),
    responses((status = 200, description = "The channel", body = Channel)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}")]
async fn fetch_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    Ok(HttpResponse::Ok().json(views::channel(&state, sid, &channel)))
}

/// Updates name, unique name and attributes. A Flex `status` in the attributes is the channel's
/// lifecycle: `INACTIVE` deactivates it (releasing the customer's binding unless long-lived),
/// `ACTIVE` reactivates it.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateChannel",
    params(crate::openapi::ChannelPath),
    request_body(content = UpdateChannelForm, content_type = FORM),
    responses((status = 200, description = "The channel", body = Channel)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}")]
async fn update_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: Form<UpdateChannelForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::CHANNEL_NAME_UPDATE, lengths::UNIQUE_NAME_UPDATE])?;
    let ChannelPath { service, channel: sid } = path;
    let current = load_channel(&state, service, sid, request.path()).await?;
    let form = form.fields;
    let mut commands = Vec::new();
    if form.friendly_name.is_some() || form.unique_name.is_some() {
        commands.push(ChannelCommand::Rename {
            friendly_name: form.friendly_name.or(current.friendly_name.clone()),
            unique_name: form.unique_name.or(current.unique_name.clone()),
        });
    }
    if let Some(text) = form.attributes {
        let attributes = json_attributes(Some(&text))?;
        match status_of(&attributes).as_deref() {
            Some("INACTIVE") if current.status == ChannelStatus::Active => {
                commands.push(ChannelCommand::Deactivate)
            }
            Some("ACTIVE") if current.status == ChannelStatus::Inactive => {
                commands.push(ChannelCommand::Reactivate)
            }
            _ => {}
        }
        commands.push(ChannelCommand::UpdateAttributes { attributes });
    }
    run(&state, sid, commands).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    Ok(HttpResponse::Ok().json(views::channel(&state, sid, &channel)))
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
async fn delete_channel(
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

fn status_of(attributes: &str) -> Option<String> {
    let value: Value = serde_json::from_str(attributes).ok()?;
    value.get("status")?.as_str().map(str::to_ascii_uppercase)
}
