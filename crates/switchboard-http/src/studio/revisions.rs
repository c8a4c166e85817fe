//! A Studio flow's Revisions: every one is kept (an execution runs the revision it started on),
//! listed newest first, fetched by number or as `LatestPublished`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::flow_in_path;
use super::wire::{self, FlowRevision, FlowRevisionList};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(fetch);
}

/// Lists a flow's revisions, newest first.
#[utoipa::path(
    tag = "Studio",
    operation_id = "ListFlowRevision",
    params(("flow" = String, Path, description = "The flow (`FW…`)"), PageParams),
    responses((status = 200, description = "A page of revisions", body = FlowRevisionList)),
)]
#[get("/studio/v2/Flows/{flow}/Revisions")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (sid, flow) = flow_in_path(&state, &request)?;
    let revisions: Vec<_> =
        flow.revisions.iter().rev().map(|r| wire::revision(&state, sid, r)).collect();
    list_response::<FlowRevisionList>(&state, &request, &paging, revisions)
}

/// Fetches one revision: its number, or `LatestPublished` (the one new executions start on).
#[utoipa::path(
    tag = "Studio",
    operation_id = "FetchFlowRevision",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("revision" = String, Path, description = "A revision's number, or `LatestPublished`"),
    ),
    responses((status = 200, description = "The revision", body = FlowRevision)),
)]
#[get("/studio/v2/Flows/{flow}/Revisions/{revision}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (sid, flow) = flow_in_path(&state, &request)?;
    let asked = request.match_info().get("revision").unwrap_or_default();
    let found = match asked {
        "LatestPublished" => flow.live_revision(),
        number => number.parse().ok().and_then(|n| flow.revision(n)),
    };
    let revision = found.ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(wire::revision(&state, sid, revision)))
}
