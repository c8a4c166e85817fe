//! An execution's Steps (oldest first) and each step's `Context`, read from the execution's
//! events: a step is the transition into a widget, its context the widget's output.

use actix_web::{get, web, HttpRequest, HttpResponse};
use switchboard_actors::StepView;
use switchboard_domain::{Sid, SidPrefix};
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, ExecutionStep, ExecutionStepList, StepContext};
use super::{execution_in_path, path_sid};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(fetch).service(context);
}

/// Lists an execution's steps, oldest first.
#[utoipa::path(
    tag = "Studio",
    operation_id = "ListExecutionStep",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
        PageParams,
    ),
    responses((status = 200, description = "A page of steps", body = ExecutionStepList)),
)]
#[get("/studio/v2/Flows/{flow}/Executions/{execution}/Steps")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (flow, execution, _) = execution_in_path(&state, &request)?;
    let steps = state.engine.studio_flows().steps(execution).await?;
    let steps: Vec<_> = steps.iter().map(|s| wire::step(&state, flow, execution, s)).collect();
    list_response::<ExecutionStepList>(&state, &request, &paging, steps)
}

/// Fetches one step.
#[utoipa::path(
    tag = "Studio",
    operation_id = "FetchExecutionStep",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
        ("step" = String, Path, description = "The step (`FT…`)"),
    ),
    responses((status = 200, description = "The step", body = ExecutionStep)),
)]
#[get("/studio/v2/Flows/{flow}/Executions/{execution}/Steps/{step}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (flow, execution, step) = step_in_path(&state, &request).await?;
    Ok(HttpResponse::Ok().json(wire::step(&state, flow, execution, &step)))
}

/// Fetches one step's context.
#[utoipa::path(
    tag = "Studio",
    operation_id = "FetchExecutionStepContext",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
        ("step" = String, Path, description = "The step (`FT…`)"),
    ),
    responses((status = 200, description = "The step's context", body = StepContext)),
)]
#[get("/studio/v2/Flows/{flow}/Executions/{execution}/Steps/{step}/Context")]
async fn context(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (flow, execution, step) = step_in_path(&state, &request).await?;
    Ok(HttpResponse::Ok().json(wire::step_context(&state, flow, execution, &step)))
}

/// The step the path names, of the execution and flow it names.
async fn step_in_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(Sid, Sid, StepView), ApiError> {
    let (flow, execution, _) = execution_in_path(state, request)?;
    let sid = path_sid(request, "step", SidPrefix::STUDIO_STEP)?;
    let steps = state.engine.studio_flows().steps(execution).await?;
    let step = steps.into_iter().find(|s| s.sid == sid);
    Ok((flow, execution, step.ok_or_else(|| ApiError::not_found(request.path()))?))
}
