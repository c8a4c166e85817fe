//! Chat v2 Services: create, fetch, list, update (with the service webhooks' settings,
//! `service_webhooks`).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::ServicePath;
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::Form;
use crate::views::{self, Service, ServiceList};

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_services)
        .service(create_service)
        .service(fetch_service)
        .service(update_service);
}

/// The form of a Chat Service create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateServiceForm {
    friendly_name: String,
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
    form: Form<CreateServiceForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, &[lengths::SERVICE_NAME])?;
    let name = form.fields.friendly_name;
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
    path: ServicePath,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = path.service;
    let service =
        state.engine.services().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(views::service(&state, &service)))
}

/// Updates a Chat Service.
#[utoipa::path(
    tag = "Chat",
    operation_id = "UpdateService",
    params(crate::openapi::ServicePath),
    request_body(content = super::service_webhooks::UpdateServiceForm, content_type = FORM),
    responses((status = 200, description = "The service", body = Service)),
)]
#[post("/chat/v2/Services/{service}")]
async fn update_service(
    _: Principal,
    state: web::Data<AppState>,
    path: ServicePath,
    request: HttpRequest,
    form: Form<super::service_webhooks::UpdateServiceForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(
        &form.raw,
        &[lengths::SERVICE_NAME, lengths::PRE_WEBHOOK_URL, lengths::POST_WEBHOOK_URL],
    )?;
    let sid = path.service;
    let current =
        state.engine.services().get(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    // Checked whole before anything is written: the rename and the settings are one append.
    let webhooks = super::service_webhooks::updated(&form.fields, &current.webhooks)?;
    let Form { fields, .. } = form;
    let (name, reachability) = (fields.friendly_name, fields.reachability_enabled);
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
