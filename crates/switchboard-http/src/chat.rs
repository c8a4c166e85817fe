//! Chat v2, the core agents and tests need: Services (create, fetch, list, update), a service's
//! Channels (create, list by `Type`, fetch by SID or unique name, update), Members (add, list,
//! fetch) and Messages (post, list in index order with paging, fetch; a message in the name of a
//! flow channel's customer is stored as the customer's).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::Value;
use switchboard_actors::MessageView;
use switchboard_domain::{
    ChannelCommand, ChannelKind, ChannelState, ChannelStatus, MessageSource, NewChannel,
    NewMessage, Sid, SidPrefix,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, page_response, PageParams, Paging};
use crate::openapi::{ChannelPath, FORM};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::twilio::lengths;
use crate::views::{
    self, Channel, ChannelList, Member, MemberList, Message, MessageList, Service, ServiceList,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_services)
        .service(create_service)
        .service(fetch_service)
        .service(update_service)
        .service(list_channels)
        .service(create_channel)
        .service(fetch_channel)
        .service(update_channel)
        .service(crate::chat_edits::delete_channel)
        .service(list_members)
        .service(add_member)
        .service(fetch_member)
        .service(crate::chat_edits::update_member)
        .service(crate::chat_edits::remove_member)
        .service(list_messages)
        .service(post_message)
        .service(fetch_message)
        .service(crate::chat_edits::update_message)
        .service(crate::chat_edits::remove_message);
}

/// The form of a Chat Service create.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateServiceForm {
    friendly_name: String,
}

/// The form of a Chat Service update: only `FriendlyName` is kept so far.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateServiceForm {
    friendly_name: Option<String>,
    /// Called before a client's action is applied; a non-2xx answer refuses it.
    pre_webhook_url: Option<String>,
    /// Called after each event named in `WebhookFilters`.
    post_webhook_url: Option<String>,
    /// `GET` or `POST` (default).
    webhook_method: Option<String>,
    /// Repeated: the events the service webhooks are called for; an empty list sends none.
    webhook_filters: Option<Vec<String>>,
    /// From 0 (default) to 3.
    #[schema(maximum = 3)]
    pre_webhook_retry_count: Option<u8>,
    /// From 0 (default) to 3.
    #[schema(maximum = 3)]
    post_webhook_retry_count: Option<u8>,
    /// Keep users' `is_online` and `is_notifiable`, and push them to the members of their
    /// channels (see docs/api.md, Presence).
    reachability_enabled: Option<bool>,
}

/// The form of a channel create.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateChannelForm {
    friendly_name: Option<String>,
    /// Unique in the service (409, code 50307, otherwise).
    unique_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// `public` (default) or `private`.
    #[schema(rename = "Type")]
    kind: Option<String>,
    /// Default `system`.
    created_by: Option<String>,
}

/// The form of a channel update. A Flex `status` of `INACTIVE` in the attributes deactivates
/// the channel, `ACTIVE` reactivates it.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct UpdateChannelForm {
    friendly_name: Option<String>,
    unique_name: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
}

/// The form of a member add.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateMemberForm {
    identity: String,
    /// A `channel` role of the service (`RL…`).
    role_sid: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
}

/// The form of a message post.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateMessageForm {
    /// At most 32 768 characters.
    body: Option<String>,
    /// The author (default `system`); a flow channel's customer makes it the customer's message.
    from: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// A medium uploaded to this channel and not yet attached (`ME…`).
    media_sid: Option<String>,
}

/// Creates a Chat Service, with its four default roles.
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateService",
    request_body(content = CreateServiceForm, content_type = FORM),
    responses((status = 201, description = "The new service", body = Service)),
)]
#[post("/chat/v2/Services")]
async fn create_service(
    _: Principal,
    state: web::Data<AppState>,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::SERVICE_NAME])?;
    let name = form.require("FriendlyName")?.to_owned();
    let service = state.engine.services().create(name, state.engine.now()).await?;
    Ok(HttpResponse::Created().json(views::service(&state, &service)))
}

/// Fetches a Chat Service.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchService",
    params(crate::openapi::ServicePath),
    responses((status = 200, description = "The service", body = Service)),
)]
#[get("/chat/v2/Services/{service}")]
async fn fetch_service(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = service_sid(&state, &request)?;
    let service =
        state.engine.services().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::service(&state, &service)))
}

/// Updates a Chat Service.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateService",
    params(crate::openapi::ServicePath),
    request_body(content = UpdateServiceForm, content_type = FORM),
    responses((status = 200, description = "The service", body = Service)),
)]
#[post("/chat/v2/Services/{service}")]
async fn update_service(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(
        &form,
        &[lengths::SERVICE_NAME, lengths::PRE_WEBHOOK_URL, lengths::POST_WEBHOOK_URL],
    )?;
    let sid = service_sid(&state, &request)?;
    let current =
        state.engine.services().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    // Checked whole before anything is written: the rename and the settings are one append.
    let webhooks = crate::service_webhooks::updated(&form, &current.webhooks)?;
    let name = form.get("FriendlyName").map(str::to_owned);
    let reachability = form.get_bool("ReachabilityEnabled")?;
    let service = state
        .engine
        .services()
        .update(sid, name, webhooks, reachability, state.engine.now())
        .await?
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::service(&state, &service)))
}

/// Lists the Chat Services.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListService",
    params(PageParams),
    responses((status = 200, description = "A page of services", body = ServiceList)),
)]
#[get("/chat/v2/Services")]
async fn list_services(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 100)?;
    let items = state.engine.services().list().iter().map(|s| views::service(&state, s)).collect();
    list_response::<ServiceList>(&state, &request, &paging, items)
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
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(
        &form,
        &[lengths::CHANNEL_NAME_CREATE, lengths::UNIQUE_NAME_CREATE, lengths::CREATED_BY],
    )?;
    let service = service_sid(&state, &request)?;
    let kind = match form.get("Type") {
        None | Some("public") => ChannelKind::Public,
        Some("private") => ChannelKind::Private,
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "Type must be public or private, not {other:?}"
            )))
        }
    };
    let unique_name = form.get("UniqueName").map(str::to_owned);
    if let Some(name) = &unique_name {
        if state.engine.channel_named(service, name)?.is_some() {
            return Err(ApiError::conflict(
                50307,
                format!("Channel with provided unique name {name:?} already exists"),
            ));
        }
    }
    let attributes = json_attributes(form.get("Attributes"))?;
    let sid = switchboard_actors::new_sid(SidPrefix::CHANNEL);
    let new = NewChannel {
        channel_sid: sid,
        service_sid: service,
        kind,
        friendly_name: form.get("FriendlyName").map(str::to_owned),
        unique_name,
        attributes,
        created_by: form.get("CreatedBy").unwrap_or("system").to_owned(),
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
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let service = service_sid(&state, &request)?;
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
        .channel_listings(Some(service))
        .await?
        .into_iter()
        .filter(|l| wanted(Some(l.kind)))
        .map(|l| l.channel_sid)
        .collect();
    let range = paging.range(listed.len());
    let mut page = Vec::with_capacity(range.len());
    for &sid in &listed[range.clone()] {
        if let Some(channel) = state.engine.channel(sid).await? {
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
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::CHANNEL_NAME_UPDATE, lengths::UNIQUE_NAME_UPDATE])?;
    let ChannelPath { service, channel: sid } = path;
    let current = load_channel(&state, service, sid, request.path()).await?;
    let mut commands = Vec::new();
    if form.get("FriendlyName").is_some() || form.get("UniqueName").is_some() {
        commands.push(ChannelCommand::Rename {
            friendly_name: form
                .get("FriendlyName")
                .map(str::to_owned)
                .or(current.friendly_name.clone()),
            unique_name: form.get("UniqueName").map(str::to_owned).or(current.unique_name.clone()),
        });
    }
    if let Some(text) = form.get("Attributes") {
        let attributes = json_attributes(Some(text))?;
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
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::IDENTITY])?;
    let ChannelPath { service, channel: sid } = path;
    let identity = form.require("Identity")?.to_owned();
    let member_sid = switchboard_actors::new_sid(SidPrefix::MEMBER);
    let role_sid = form.get_sid("RoleSid", SidPrefix::ROLE)?;
    crate::chat_users::check_role(
        &state,
        service,
        role_sid,
        switchboard_domain::RoleKind::Channel,
    )?;
    let command = ChannelCommand::AddMember {
        member_sid,
        identity,
        role_sid,
        attributes: json_attributes(form.get("Attributes"))?,
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

/// Posts a message. In the name of a flow channel's customer, it is the customer's message.
#[utoipa::path(
    tag = "Chat",
    operation_id = "CreateMessage",
    params(crate::openapi::ChannelPath),
    request_body(content = CreateMessageForm, content_type = FORM),
    responses((status = 201, description = "The new message", body = Message)),
)]
#[post("/chat/v2/Services/{service}/Channels/{channel}/Messages")]
async fn post_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form, &[lengths::AUTHOR, lengths::LAST_UPDATED_BY])?;
    let ChannelPath { service, channel: sid } = path;
    let body = form.get("Body").unwrap_or_default().to_owned();
    lengths::check_body(&body)?;
    // Loaded once: the medium must be the channel's, and a bridge posts its customer's messages
    // in the customer's name (Flex custom channels), which are the customer's.
    let current = load_channel(&state, service, sid, request.path()).await?;
    let media = match form.get("MediaSid").filter(|m| !m.is_empty()) {
        Some(media_sid) => crate::media::attached(&current, Some(media_sid))?,
        None => None,
    };
    let message = NewMessage {
        author: form.get("From").filter(|f| !f.is_empty()).unwrap_or("system").to_owned(),
        body,
        attributes: json_attributes(form.get("Attributes"))?,
        media,
        source: MessageSource::Api,
        provider_message_id: None,
    };
    let executed = if current.is_customer(&message.author) {
        state.engine.customer_message(&current, message).await?
    } else {
        let commands = vec![ChannelCommand::PostMessage(message)];
        state.engine.execute(sid, commands).await?
    };
    // The response is made of what the command stored: nothing is read back.
    let executed = executed?;
    let message = MessageView::from_executed(&executed).ok_or_else(ApiError::internal)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    Ok(HttpResponse::Created().json(views::message(&state, &channel, &message)))
}

/// Lists a channel's messages in index order.
#[utoipa::path(
    tag = "Chat",
    operation_id = "ListMessage",
    params(crate::openapi::ChannelPath, ("Order" = Option<String>, Query, description = "`asc` (default) or `desc`"), PageParams),
    responses((status = 200, description = "A page of messages", body = MessageList)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Messages")]
async fn list_messages(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let paging = Paging::from_request(&request, 100)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let newest_first = match paging.filter("Order") {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_param(format!("Order must be asc or desc, not {other:?}")))
        }
    };
    // Only the page's messages are read: their positions come from the state's count.
    let total = usize::try_from(channel.messages_count()).unwrap_or(usize::MAX);
    let range = paging.range(total);
    let (offset, limit) = (range.start as u64, range.len() as u64);
    let messages = state.engine.message_page(&channel, offset, limit, newest_first)?;
    let items = messages.iter().map(|m| views::message(&state, &channel, m)).collect();
    page_response::<MessageList>(&state, &request, &paging, items, total > range.end)
}

/// Fetches a message.
#[utoipa::path(
    tag = "Chat",
    operation_id = "FetchMessage",
    params(crate::openapi::ChannelPath, ("message" = String, Path, description = "The message (`IM…`)")),
    responses((status = 200, description = "The message", body = Message)),
)]
#[get("/chat/v2/Services/{service}/Channels/{channel}/Messages/{message}")]
async fn fetch_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
) -> Result<HttpResponse, ApiError> {
    let ChannelPath { service, channel: sid } = path;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let key = request.match_info().get("message").unwrap_or_default();
    let message_sid = Sid::parse_with(key, SidPrefix::MESSAGE)
        .map_err(|_| ApiError::not_found(request.path()))?;
    let message = state.engine.message_by_sid(&channel, message_sid)?;
    let message = message.ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::message(&state, &channel, &message)))
}

/// Runs commands on a channel and turns a domain rejection into Twilio's error.
pub(crate) async fn run(
    state: &AppState,
    sid: Sid,
    commands: Vec<ChannelCommand>,
) -> Result<(), ApiError> {
    if commands.is_empty() {
        return Ok(());
    }
    state.engine.execute(sid, commands).await??;
    Ok(())
}

pub(crate) fn service_sid(state: &AppState, request: &HttpRequest) -> Result<Sid, ApiError> {
    let text = request.match_info().get("service").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::SERVICE)
        .map_err(|_| ApiError::not_found(request.path()))?;
    state.engine.services().get(sid).map(|_| sid).ok_or_else(|| ApiError::not_found(request.path()))
}

/// The service and channel of the path; the channel may be named by SID or unique name.
pub(crate) fn channel_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, Sid), ApiError> {
    let service = service_sid(state, request)?;
    let key = request.match_info().get("channel").unwrap_or_default();
    if let Ok(sid) = Sid::parse_with(key, SidPrefix::CHANNEL) {
        return Ok((service, sid));
    }
    match state.engine.channel_named(service, key)? {
        Some(sid) => Ok((service, sid)),
        None => Err(ApiError::not_found(request.path())),
    }
}

pub(crate) async fn load_channel(
    state: &AppState,
    service: Sid,
    sid: Sid,
    path: &str,
) -> Result<ChannelState, ApiError> {
    match state.engine.channel(sid).await? {
        Some(channel) if channel.service_sid == Some(service) && !channel.is_removed() => {
            Ok(channel)
        }
        _ => Err(ApiError::not_found(path)),
    }
}

/// The channel of the path and the SID its `param` segment names (of `prefix`), if the channel
/// `holds` it: the lookup of every channel sub-resource (webhooks, invites); 404 in Twilio's
/// shape for a missing channel or a missing or malformed SID alike.
pub(crate) async fn channel_and_child(
    state: &AppState,
    request: &HttpRequest,
    param: &str,
    prefix: SidPrefix,
    holds: impl Fn(&ChannelState, &Sid) -> bool,
) -> Result<(ChannelState, Sid), ApiError> {
    let (service, sid) = channel_path(state, request)?;
    let channel = load_channel(state, service, sid, request.path()).await?;
    let key = request.match_info().get(param).unwrap_or_default();
    match Sid::parse_with(key, prefix) {
        Ok(child) if holds(&channel, &child) => Ok((channel, child)),
        _ => Err(ApiError::not_found(request.path())),
    }
}

/// Attributes must be a JSON document (Twilio stores them as a string); absent means `{}`.
pub(crate) fn json_attributes(text: Option<&str>) -> Result<String, ApiError> {
    match text {
        None | Some("") => Ok("{}".to_owned()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(_) if text.len() <= 16 * 1024 => Ok(text.to_owned()),
            Ok(_) => Err(ApiError::bad_param("Attributes are longer than 16 KiB")),
            Err(_) => Err(ApiError::bad_param("Attributes must be a valid JSON document")),
        },
    }
}

fn status_of(attributes: &str) -> Option<String> {
    let value: Value = serde_json::from_str(attributes).ok()?;
    value.get("status")?.as_str().map(str::to_ascii_uppercase)
}
