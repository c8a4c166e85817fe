//! Studio Flows: create (201, revision 1), fetch, list, update by POST (a new revision when the
//! definition or the status changes), delete (204), and `Flows/Validate`, which checks a
//! definition as create would without keeping anything.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_studio::{validate_json, StudioFlowCommand, StudioFlowState};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, Flow, FlowList, FlowValidate};
use super::{definition_form, flow_in_path, invalid_definition, refusal, status_of};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(validate)
        .service(list)
        .service(create)
        .service(fetch)
        .service(update)
        .service(delete);
}

/// The form of a create, and of `Flows/Validate`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateFlowForm {
    friendly_name: String,
    /// `draft` or `published`.
    status: String,
    /// Studio's JSON (`states`, `initial_state`, `flags`), at most 1 MiB.
    definition: String,
    commit_message: Option<String>,
}

/// The form of an update: a new revision when the definition or the status changes.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateFlowForm {
    /// `draft` or `published`.
    status: String,
    friendly_name: Option<String>,
    definition: Option<String>,
    commit_message: Option<String>,
}

const LIMITS: &[lengths::Limit] = &[lengths::STUDIO_FLOW_NAME, lengths::COMMIT_MESSAGE];

/// Creates a flow; an invalid definition is refused (81022) with every error in `details`.
#[utoipa::path(
    tag = "Studio",
    operation_id = "CreateFlow",
    request_body(content = CreateFlowForm, content_type = FORM),
    responses((status = 201, description = "The new flow", body = Flow)),
)]
#[post("/studio/v2/Flows")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let raw = definition_form(&request, payload).await?;
    lengths::check(&raw, LIMITS)?;
    let form: CreateFlowForm = raw.typed()?;
    let status = status_of(&form.status)?;
    let (definition, now) = (form.definition, state.engine.now());
    let created = state
        .engine
        .studio_flows()
        .create(form.friendly_name, status, definition.clone(), form.commit_message, now)
        .await?;
    let flow = created.map_err(|r| refusal(r, request.path(), Some(&definition)))?;
    Ok(HttpResponse::Created().json(render(&state, &flow)?))
}

/// Checks a definition as a create would, keeping nothing: `{"valid": true}`, or the errors.
#[utoipa::path(
    tag = "Studio",
    operation_id = "UpdateFlowValidate",
    request_body(content = CreateFlowForm, content_type = FORM),
    responses((status = 200, description = "The definition is valid", body = FlowValidate)),
)]
#[post("/studio/v2/Flows/Validate")]
async fn validate(
    _: Principal,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let raw = definition_form(&request, payload).await?;
    lengths::check(&raw, LIMITS)?;
    let form: CreateFlowForm = raw.typed()?;
    status_of(&form.status)?;
    let definition = &form.definition;
    validate_json(definition).map_err(|errors| invalid_definition(&errors, definition))?;
    Ok(HttpResponse::Ok().json(FlowValidate { valid: true }))
}

/// Fetches a flow, as its newest revision leaves it.
#[utoipa::path(
    tag = "Studio",
    operation_id = "FetchFlow",
    params(("flow" = String, Path, description = "The flow (`FW…`)")),
    responses((status = 200, description = "The flow", body = Flow)),
)]
#[get("/studio/v2/Flows/{flow}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, flow) = flow_in_path(&state, &request)?;
    Ok(HttpResponse::Ok().json(render(&state, &flow)?))
}

/// Lists the flows, oldest first.
#[utoipa::path(
    tag = "Studio",
    operation_id = "ListFlow",
    params(PageParams),
    responses((status = 200, description = "A page of flows", body = FlowList)),
)]
#[get("/studio/v2/Flows")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let paging = Paging::from_request(&request, 1000)?;
    let flows: Vec<_> =
        state.engine.studio_flows().list().iter().filter_map(|f| wire::flow(&state, f)).collect();
    list_response::<FlowList>(&state, &request, &paging, flows)
}

/// Updates a flow: `Status` always, and what else it names.
#[utoipa::path(
    tag = "Studio",
    operation_id = "UpdateFlow",
    params(("flow" = String, Path, description = "The flow (`FW…`)")),
    request_body(content = UpdateFlowForm, content_type = FORM),
    responses((status = 200, description = "The flow", body = Flow)),
)]
#[post("/studio/v2/Flows/{flow}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (sid, _) = flow_in_path(&state, &request)?;
    let raw = definition_form(&request, payload).await?;
    lengths::check(&raw, LIMITS)?;
    let form: UpdateFlowForm = raw.typed()?;
    let definition = present(form.definition);
    let command = StudioFlowCommand::Update {
        status: Some(status_of(&form.status)?),
        friendly_name: present(form.friendly_name),
        definition: definition.clone(),
        commit_message: present(form.commit_message),
    };
    let changed = state.engine.studio_flows().update(sid, command, state.engine.now()).await?;
    let flow = changed.map_err(|r| refusal(r, request.path(), definition.as_deref()))?;
    Ok(HttpResponse::Ok().json(render(&state, &flow)?))
}

/// Deletes a flow; its active executions end.
#[utoipa::path(
    tag = "Studio",
    operation_id = "DeleteFlow",
    params(("flow" = String, Path, description = "The flow (`FW…`)")),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/studio/v2/Flows/{flow}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (sid, _) = flow_in_path(&state, &request)?;
    let deleted = state.engine.studio_flows().delete(sid, state.engine.now()).await?;
    deleted.map_err(|r| refusal(r, request.path(), None))?;
    Ok(HttpResponse::NoContent().finish())
}

/// A parameter given with a value; an empty one keeps what is there, as the SDKs never send one.
fn present(given: Option<String>) -> Option<String> {
    given.filter(|v| !v.is_empty())
}

fn render(state: &AppState, flow: &StudioFlowState) -> Result<Flow, ApiError> {
    wire::flow(state, flow).ok_or_else(ApiError::internal)
}
