//! Chat v2, the core agents and tests need: Services (create, fetch, list, update), a service's
//! Channels (create, list by `Type`, fetch by SID or unique name, update), Members (add, list,
//! fetch) and Messages (post, list in index order with paging, fetch; a message in the name of a
//! flow channel's customer is stored as the customer's).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;
use switchboard_actors::MessageView;
use switchboard_domain::{
    ChannelCommand, ChannelKind, ChannelState, ChannelStatus, IndexKind, MessageSource, NewChannel,
    NewMessage, Rejection, Sid, SidPrefix,
};

use crate::auth::Principal;
use crate::flex::internal;
use crate::lists::{list_response, page_response, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::views;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let base = "/chat/v2/Services";
    cfg.service(
        web::resource(base)
            .route(web::get().to(list_services))
            .route(web::post().to(create_service)),
    )
    .service(
        web::resource(format!("{base}/{{service}}"))
            .route(web::get().to(fetch_service))
            .route(web::post().to(update_service)),
    )
    .service(
        web::resource(format!("{base}/{{service}}/Channels"))
            .route(web::get().to(list_channels))
            .route(web::post().to(create_channel)),
    )
    .service(
        web::resource(format!("{base}/{{service}}/Channels/{{channel}}"))
            .route(web::get().to(fetch_channel))
            .route(web::post().to(update_channel))
            .route(web::delete().to(crate::chat_edits::delete_channel)),
    )
    .service(
        web::resource(format!("{base}/{{service}}/Channels/{{channel}}/Members"))
            .route(web::get().to(list_members))
            .route(web::post().to(add_member)),
    )
    .service(
        web::resource(format!("{base}/{{service}}/Channels/{{channel}}/Members/{{member}}"))
            .route(web::get().to(fetch_member))
            .route(web::post().to(crate::chat_edits::update_member))
            .route(web::delete().to(crate::chat_edits::remove_member)),
    )
    .service(
        web::resource(format!("{base}/{{service}}/Channels/{{channel}}/Messages"))
            .route(web::get().to(list_messages))
            .route(web::post().to(post_message)),
    )
    .service(
        web::resource(format!("{base}/{{service}}/Channels/{{channel}}/Messages/{{message}}"))
            .route(web::get().to(fetch_message))
            .route(web::post().to(crate::chat_edits::update_message))
            .route(web::delete().to(crate::chat_edits::remove_message)),
    );
}

async fn create_service(
    _: Principal,
    state: web::Data<AppState>,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let name = form.require("FriendlyName")?.to_owned();
    let service =
        state.engine.services().create(name, state.engine.now()).await.map_err(internal)?;
    Ok(HttpResponse::Created().json(views::service(&state, &service)))
}

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

async fn update_service(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let sid = service_sid(&state, &request)?;
    let current =
        state.engine.services().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    // Checked whole before anything is written: the rename and the settings are one append.
    let webhooks = crate::service_webhooks::updated(&form, &current.webhooks)?;
    let name = form.get("FriendlyName").map(str::to_owned);
    let service = state
        .engine
        .services()
        .update(sid, name, webhooks, state.engine.now())
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::service(&state, &service)))
}

async fn list_services(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 100)?;
    let items = state.engine.services().list().iter().map(|s| views::service(&state, s)).collect();
    list_response(&state, &request, &paging, "services", items)
}

async fn create_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
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
        if state
            .engine
            .log()
            .lookup(IndexKind::UniqueName, Some(service), name)
            .map_err(store)?
            .is_some()
        {
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
    };
    run(&state, sid, vec![ChannelCommand::Create(new)]).await?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    Ok(HttpResponse::Created().json(views::channel(&state, sid, &channel)))
}

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
        .await
        .map_err(internal)?
        .into_iter()
        .filter(|l| wanted(Some(l.kind)))
        .map(|l| l.channel_sid)
        .collect();
    let range = paging.range(listed.len());
    let mut page = Vec::with_capacity(range.len());
    for &sid in &listed[range.clone()] {
        if let Some(channel) = state.engine.channel(sid).await.map_err(internal)? {
            page.push(views::channel(&state, sid, &channel));
        }
    }
    page_response(&state, &request, &paging, "channels", page, listed.len() > range.end)
}

async fn fetch_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    Ok(HttpResponse::Ok().json(views::channel(&state, sid, &channel)))
}

/// Updates name, unique name and attributes. A Flex `status` in the attributes is the channel's
/// lifecycle: `INACTIVE` deactivates it (releasing the customer's binding unless long-lived),
/// `ACTIVE` reactivates it.
async fn update_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
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

async fn add_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
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

async fn list_members(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    let paging = Paging::from_request(&request, 100)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let identities = paging.filters("Identity");
    let items = channel
        .members
        .iter()
        .filter(|(_, m)| identities.is_empty() || identities.contains(&m.identity.as_str()))
        .map(|(member_sid, m)| views::member(&state, &channel, *member_sid, m))
        .collect();
    list_response(&state, &request, &paging, "members", items)
}

async fn fetch_member(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let key = request.match_info().get("member").unwrap_or_default();
    let found = match Sid::parse_with(key, SidPrefix::MEMBER) {
        Ok(member_sid) => channel.members.get(&member_sid).map(|m| (member_sid, m)),
        Err(_) => channel.member_by_identity(key),
    };
    let (member_sid, member) = found.ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::member(&state, &channel, member_sid, member)))
}

async fn post_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    let message_sid = switchboard_actors::new_sid(SidPrefix::MESSAGE);
    let body = form.get("Body").unwrap_or_default().to_owned();
    if body.chars().count() > 32 * 1024 {
        return Err(ApiError::bad_param("Body is longer than 32 768 characters"));
    }
    // Loaded once: the medium must be the channel's, and a bridge posts its customer's messages
    // in the customer's name (Flex custom channels), which are the customer's.
    let current = load_channel(&state, service, sid, request.path()).await?;
    let media = match form.get("MediaSid").filter(|m| !m.is_empty()) {
        Some(media_sid) => crate::media::attached(&current, Some(media_sid))?,
        None => None,
    };
    let message = NewMessage {
        message_sid,
        author: form.get("From").filter(|f| !f.is_empty()).unwrap_or("system").to_owned(),
        body,
        attributes: json_attributes(form.get("Attributes"))?,
        media,
        source: MessageSource::Api,
        provider_message_id: None,
    };
    if current.is_customer(&message.author) {
        let stored = state.engine.customer_message(&current, message).await.map_err(internal)?;
        stored.map_err(rejected)?;
    } else {
        run(&state, sid, vec![ChannelCommand::PostMessage(message)]).await?;
    }
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let messages = state.engine.messages(sid).map_err(internal)?;
    let message =
        messages.iter().rev().find(|m| m.sid == message_sid).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Created().json(views::message(&state, &channel, message)))
}

async fn list_messages(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    let paging = Paging::from_request(&request, 100)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let mut messages: Vec<MessageView> = state.engine.messages(sid).map_err(internal)?;
    match paging.filter("Order") {
        None | Some("asc") => {}
        Some("desc") => messages.reverse(),
        Some(other) => {
            return Err(ApiError::bad_param(format!("Order must be asc or desc, not {other:?}")))
        }
    }
    let items = messages.iter().map(|m| views::message(&state, &channel, m)).collect();
    list_response(&state, &request, &paging, "messages", items)
}

async fn fetch_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (service, sid) = channel_path(&state, &request)?;
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let key = request.match_info().get("message").unwrap_or_default();
    let message_sid = Sid::parse_with(key, SidPrefix::MESSAGE)
        .map_err(|_| ApiError::not_found(request.path()))?;
    let messages = state.engine.messages(sid).map_err(internal)?;
    let message = messages
        .iter()
        .find(|m| m.sid == message_sid)
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::message(&state, &channel, message)))
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
    match state.engine.execute(sid, commands).await.map_err(internal)? {
        Ok(_) => Ok(()),
        Err(rejection) => Err(rejected(rejection)),
    }
}

pub(crate) fn rejected(rejection: Rejection) -> ApiError {
    match rejection {
        Rejection::ChannelNotFound => {
            ApiError::new(404, 20404, "The requested channel was not found")
        }
        Rejection::MemberNotFound(_)
        | Rejection::MessageNotFound(_)
        | Rejection::TaskNotOpen(_)
        | Rejection::WebhookNotFound(_) => ApiError::new(404, 20404, rejection.to_string()),
        Rejection::MemberExists(_) => ApiError::conflict(50404, "Member already exists"),
        Rejection::ChannelExists | Rejection::TaskExists(_) => {
            ApiError::conflict(50307, rejection.to_string())
        }
        Rejection::ChannelErased | Rejection::ChannelInactive => {
            ApiError::conflict(50300, rejection.to_string())
        }
        Rejection::Invalid(message) => ApiError::bad_param(message),
    }
}

fn store(error: switchboard_store::StoreError) -> ApiError {
    internal(switchboard_actors::EngineError::Store(error))
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
    match state.engine.log().lookup(IndexKind::UniqueName, Some(service), key).map_err(store)? {
        Some((sid, _)) => Ok((service, sid)),
        None => Err(ApiError::not_found(request.path())),
    }
}

pub(crate) async fn load_channel(
    state: &AppState,
    service: Sid,
    sid: Sid,
    path: &str,
) -> Result<ChannelState, ApiError> {
    match state.engine.channel(sid).await.map_err(internal)? {
        Some(channel) if channel.service_sid == Some(service) && !channel.is_removed() => {
            Ok(channel)
        }
        _ => Err(ApiError::not_found(path)),
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
