//! The operator's API: a channel's decrypted events as JSON lines (audit on a live daemon, what
//! `switchboard replay --url` reads), and the open tasks of the built-in task router.

use actix_web::{get, web, HttpRequest, HttpResponse};
use switchboard_domain::{Sid, SidPrefix};
use switchboard_store::ReplayFilter;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::audit::event_line;
use crate::auth::Principal;
use crate::flex::internal;
use crate::lists::{list_response, PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::views::{self, TaskList};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(channel_events).service(open_tasks);
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
