//! A Studio flow's Executions: list (newest first, by creation date), fetch, end by POST
//! (`Status=ended`), delete (204), and an execution's `Context`. Executions start from the
//! runner, not from this API: Studio's REST-triggered create is refused for now.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::ExecutionRefusal;
use switchboard_studio::{ExecutionInput, ExecutionRejection};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, Execution, ExecutionContext, ExecutionList};
use super::{execution_in_path, flow_in_path};
use crate::auth::Principal;
use crate::lists::{page_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::time::parse_iso8601;
use crate::twilio::typed_form::Form;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(fetch)
        .service(update)
        .service(delete)
        .service(context);
}

/// The form of Studio's REST-triggered execution, in the document only: every create is refused
/// for now, before its form is read.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
#[allow(dead_code)]
struct CreateExecutionForm {
    to: String,
    from: String,
    parameters: Option<String>,
}

/// The form of an execution's update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateExecutionForm {
    /// `ended`.
    status: String,
}

/// Lists a flow's executions, newest first.
#[utoipa::path(
    tag = "Studio",
    operation_id = "ListExecution",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("DateCreatedFrom" = Option<String>, Query, description = "Only those created at or after this ISO 8601 time"),
        ("DateCreatedTo" = Option<String>, Query, description = "Only those created at or before this ISO 8601 time"),
        PageParams,
    ),
    responses((status = 200, description = "A page of executions", body = ExecutionList)),
)]
#[get("/studio/v2/Flows/{flow}/Executions")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let (sid, _) = flow_in_path(&state, &request)?;
    let bound = |name| paging.filter(name).map(|t| parse_iso8601(name, t)).transpose();
    let (from, to) = (bound("DateCreatedFrom")?, bound("DateCreatedTo")?);
    // Only the page's executions are read: the flow's listing orders them.
    let skip = paging.page.saturating_mul(paging.page_size);
    let (page, has_more) =
        state.engine.studio_flows().executions_page(sid, (from, to), skip, paging.page_size)?;
    let page = page.iter().filter_map(|e| wire::execution(&state, e)).collect();
    page_response::<ExecutionList>(&state, &request, &paging, page, has_more)
}

/// Studio's REST-triggered execution: not supported yet (executions start from Flex Flows).
#[utoipa::path(
    tag = "Studio",
    operation_id = "CreateExecution",
    params(("flow" = String, Path, description = "The flow (`FW…`)")),
    request_body(content = CreateExecutionForm, content_type = FORM),
    responses(
        (status = 201, description = "Twilio's answer, not given yet: every create is refused (400) until REST-triggered executions are supported", body = Execution),
        (status = 400, description = "Not supported yet", body = crate::twilio::error::ErrorBody),
    ),
)]
#[post("/studio/v2/Flows/{flow}/Executions")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    flow_in_path(&state, &request)?;
    Err(ApiError::unsupported(
        "Creating an execution through the REST API is not supported yet: executions start from \
         a Flex Flow's messages (docs/api.md, \"Studio\")",
    ))
}

/// Fetches an execution.
#[utoipa::path(
    tag = "Studio",
    operation_id = "FetchExecution",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
    ),
    responses((status = 200, description = "The execution", body = Execution)),
)]
#[get("/studio/v2/Flows/{flow}/Executions/{execution}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, _, execution) = execution_in_path(&state, &request)?;
    Ok(HttpResponse::Ok().json(wire::execution(&state, &execution).ok_or_else(ApiError::internal)?))
}

/// Ends an execution (`Status=ended`); one that has ended already is answered as it is.
#[utoipa::path(
    tag = "Studio",
    operation_id = "UpdateExecution",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
    ),
    request_body(content = UpdateExecutionForm, content_type = FORM),
    responses((status = 200, description = "The execution", body = Execution)),
)]
#[post("/studio/v2/Flows/{flow}/Executions/{execution}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateExecutionForm>,
) -> Result<HttpResponse, ApiError> {
    let (_, sid, execution) = execution_in_path(&state, &request)?;
    match form.status.as_str() {
        "ended" => {}
        other => return Err(ApiError::bad_param(format!("Status must be ended, not {other:?}"))),
    }
    let execution = if execution.is_active() {
        let ended =
            state.engine.studio_flows().execute(sid, ExecutionInput::End, state.engine.now());
        ended.await?.map_err(|r| execution_refusal(r, request.path()))?
    } else {
        execution
    };
    Ok(HttpResponse::Ok().json(wire::execution(&state, &execution).ok_or_else(ApiError::internal)?))
}

/// Deletes an execution (an active one ends first); its events stay in the log for audit.
#[utoipa::path(
    tag = "Studio",
    operation_id = "DeleteExecution",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/studio/v2/Flows/{flow}/Executions/{execution}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, sid, _) = execution_in_path(&state, &request)?;
    let deleted =
        state.engine.studio_flows().execute(sid, ExecutionInput::Delete, state.engine.now());
    deleted.await?.map_err(|r| execution_refusal(r, request.path()))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Fetches an execution's context.
#[utoipa::path(
    tag = "Studio",
    operation_id = "FetchExecutionContext",
    params(
        ("flow" = String, Path, description = "The flow (`FW…`)"),
        ("execution" = String, Path, description = "The execution (`FN…`)"),
    ),
    responses((status = 200, description = "The execution's context", body = ExecutionContext)),
)]
#[get("/studio/v2/Flows/{flow}/Executions/{execution}/Context")]
async fn context(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, _, execution) = execution_in_path(&state, &request)?;
    let context = wire::execution_context(&state, &execution).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(context))
}

/// An execution's refusal: what is gone is 404, the rest a 400.
fn execution_refusal(refusal: ExecutionRefusal, path: &str) -> ApiError {
    match refusal {
        ExecutionRefusal::FlowNotFound
        | ExecutionRefusal::Rejected(ExecutionRejection::NotFound) => ApiError::not_found(path),
        other => ApiError::bad_param(other.to_string()),
    }
}
