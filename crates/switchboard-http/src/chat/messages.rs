//! Chat v2 Messages of a channel: post (a message in the name of a flow channel's customer is
//! stored as the customer's), list in index order with paging, fetch, update (`Body`,
//! `Attributes`), remove.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::MessageView;
use switchboard_domain::{ChannelCommand, ChannelState, MessageSource, NewMessage, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{page_response, PageParams, Paging};
use crate::openapi::{ChannelPath, FORM};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::Form;
use crate::views::{self, Message, MessageList};

use super::{json_attributes, load_channel, run};

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_messages)
        .service(post_message)
        .service(fetch_message)
        .service(update_message)
        .service(remove_message);
}

/// The form of a message post.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
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

/// The form of a message edit.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateMessageForm {
    /// At most 32 768 characters.
    body: Option<String>,
    /// A JSON document of at most 16 KiB.
    attributes: Option<String>,
    /// Who edits it (its `last_updated_by`; default `system`).
    from: Option<String>,
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
    form: Form<CreateMessageForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::AUTHOR, lengths::LAST_UPDATED_BY])?;
    let ChannelPath { service, channel: sid } = path;
    let form = form.fields;
    let body = form.body.unwrap_or_default();
    lengths::check_body(&body)?;
    // Loaded once: the medium must be the channel's, and a bridge posts its customer's messages
    // in the customer's name (Flex custom channels), which are the customer's.
    let current = load_channel(&state, service, sid, request.path()).await?;
    let media = match form.media_sid.as_deref().filter(|m| !m.is_empty()) {
        Some(media_sid) => crate::media::attached(&current, Some(media_sid))?,
        None => None,
    };
    let message = NewMessage {
        author: author_or_system(form.from),
        body,
        attributes: json_attributes(form.attributes.as_deref())?,
        media,
        source: MessageSource::Api,
        provider_message_id: None,
    };
    let executed = if current.is_customer(&message.author) {
        state.engine.channels().customer_message(&current, message).await?
    } else {
        let commands = vec![ChannelCommand::PostMessage(message)];
        state.engine.channels().execute(sid, commands).await?
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
    let messages = state.engine.messages().page(&channel, offset, limit, newest_first)?;
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
    let message = state.engine.messages().by_sid(&channel, message_sid)?;
    let message = message.ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::message(&state, &channel, &message)))
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
    let message = state.engine.messages().by_sid(channel, message_sid)?;
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
async fn update_message(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: ChannelPath,
    form: Form<UpdateMessageForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::AUTHOR, lengths::LAST_UPDATED_BY])?;
    let ChannelPath { service, channel: sid } = path;
    let current = load_channel(&state, service, sid, request.path()).await?;
    let index = message_index(&state, &current, &request)?;
    let form = form.fields;
    let body = form.body;
    if let Some(body) = &body {
        lengths::check_body(body)?;
    }
    let attributes = form.attributes.map(|a| json_attributes(Some(&a))).transpose()?;
    if body.is_some() || attributes.is_some() {
        let edited_by = Some(author_or_system(form.from));
        run(&state, sid, vec![ChannelCommand::EditMessage { index, body, attributes, edited_by }])
            .await?;
    }
    let channel = load_channel(&state, service, sid, request.path()).await?;
    let message = state.engine.messages().get(&channel, index)?;
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
async fn remove_message(
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

/// A message's author or editor as the form names it; `system` when it names none.
fn author_or_system(from: Option<String>) -> String {
    from.filter(|f| !f.is_empty()).unwrap_or_else(|| "system".to_owned())
}
