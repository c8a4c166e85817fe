//! Chat v2 Services: create, fetch, list, update (with the service webhooks' settings,
//! `service_webhooks`).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;
use crate::twilio::lengths;
use crate::views::{self, Service, ServiceList};

use super::service_sid;

pub(super) fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_services)
        .service(create_service)
        .service(fetch_service)
        .service(update_service);
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
    let webhooks = crate::chat::service_webhooks::updated(&form, &current.webhooks)?;
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
