//! The operator's API: a channel's decrypted events as JSON lines (audit on a live daemon, what
//! `switchboard replay --url` reads), the open tasks of the built-in task router, and the replies
//! the sandbox delivered (a daemon without upstream provider credentials).

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_actors::SandboxDelivery;
use switchboard_domain::{Sid, SidPrefix};
use switchboard_store::ReplayFilter;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::event_line;
use crate::auth::Principal;
use crate::flex::internal;
use crate::lists::{list_response, PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::views::{self, TaskList};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(channel_events).service(open_tasks).service(sandbox_messages);
}

/// Only the account's own credentials (not an API key) may read decrypted history.
#[utoipa::path(
    tag = "Operations",
    operation_id = "ListChannelEvent",
    params(("sid" = String, Path, description = "The channel (`CH…`)")),
    responses((
        status = 200,
        description = "One JSON object a line: `channel_sid`, `seq`, `timestamp`, `type`, \
            `schema`, `fields` (or `type: shredded`)",
        body = String,
        content_type = "application/x-ndjson",
    )),
)]
#[get("/admin/v1/Channels/{sid}/Events")]
async fn channel_events(
    principal: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if principal != Principal::Account {
        return Err(ApiError::forbidden(
            "Reading the audit trail needs the account's own credentials",
        ));
    }
    let text = request.match_info().get("sid").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::CHANNEL)
        .map_err(|_| ApiError::not_found(request.path()))?;
    let log = state.engine.log();
    if log.next_seq(sid).map_err(|e| internal(e.into()))? == 0 {
        return Err(ApiError::not_found(request.path()));
    }
    let filter = ReplayFilter { streams: vec![sid], since: None, until: None };
    let mut body = String::new();
    for item in log.replay(&filter) {
        let item = item.map_err(|e| internal(e.into()))?;
        body.push_str(&event_line(&item).to_string());
        body.push('\n');
    }
    Ok(HttpResponse::Ok().content_type("application/x-ndjson").body(body))
}

/// Lists the open tasks of the built-in task router.
#[utoipa::path(
    tag = "Operations",
    operation_id = "ListTask",
    params(PageParams),
    responses((status = 200, description = "A page of open tasks", body = TaskList)),
)]
#[get("/admin/v1/Tasks")]
async fn open_tasks(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let tasks = state.engine.open_tasks().await.map_err(internal)?;
    let items = tasks.iter().map(|t| views::task(&state, t)).collect();
    list_response::<TaskList>(&state, &request, &paging, items)
}

/// A reply the sandbox delivered in place of a provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxMessage {
    /// The id recorded as the provider's (`SB…`).
    pub sid: String,
    pub account_sid: String,
    pub channel_sid: String,
    /// The message's index in its channel.
    pub message_index: u64,
    /// The provider that would have carried it.
    pub provider: String,
    /// Our side as the provider names it: a number, a `phone_number_id`, a Page id.
    pub from: String,
    /// The customer.
    pub to: String,
    pub body: String,
    pub media_content_type: Option<String>,
    /// Always `delivered`, by the sandbox.
    pub status: String,
    pub date_delivered: String,
    /// The message in the Chat API.
    pub message_url: String,
}

crate::listing!(
    /// A page of the replies the sandbox delivered, oldest first.
    SandboxMessageList, messages, SandboxMessage
);

/// Lists the replies the sandbox delivered, oldest first (the newest thousand since the start).
/// 404 when the daemon has upstream provider credentials: then replies go to the providers.
#[utoipa::path(
    tag = "Operations",
    operation_id = "ListSandboxMessage",
    params(PageParams),
    responses((status = 200, description = "A page of sandbox deliveries", body = SandboxMessageList)),
)]
#[get("/admin/v1/Sandbox/Messages")]
async fn sandbox_messages(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sandbox = state.engine.sandbox().ok_or_else(|| {
        ApiError::new(
            404,
            20404,
            "The sandbox is off: upstream provider credentials are configured, and replies go \
             to the providers",
        )
    })?;
    let paging = Paging::from_request(&request, 1000)?;
    let items = sandbox.deliveries().iter().map(|d| sandbox_message(&state, d)).collect();
    list_response::<SandboxMessageList>(&state, &request, &paging, items)
}

fn sandbox_message(state: &AppState, delivery: &SandboxDelivery) -> SandboxMessage {
    let channel = delivery.channel_sid;
    let message = format!(
        "/chat/v2/Services/{}/Channels/{channel}/Messages/{}",
        delivery.service_sid, delivery.message_sid
    );
    SandboxMessage {
        sid: delivery.sid.clone(),
        account_sid: state.credentials.account_sid.to_string(),
        channel_sid: channel.to_string(),
        message_index: delivery.index,
        provider: delivery.provider.to_owned(),
        from: delivery.from.clone(),
        to: delivery.to.clone(),
        body: delivery.body.clone(),
        media_content_type: delivery.media_content_type.clone(),
        status: "delivered".to_owned(),
        date_delivered: views::iso(delivery.delivered_at),
        message_url: state.url(&message),
    }
}
