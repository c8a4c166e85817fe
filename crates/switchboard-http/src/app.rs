//! Wiring of every route, shared by the daemon and the tests.
//!
//! [`routes`] is the one place routes are registered, through `utoipa-actix-web`'s
//! `ServiceConfig`, which takes only handlers that carry their OpenAPI operation: the served app
//! and the OpenAPI document (`crate::openapi::document`) are both made by running it.

use actix_web::{get, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::openapi::Served;
use crate::state::AppState;

/// Registers every route, the OpenAPI document and the error handlers on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    crate::twilio::error::configure_extractor_errors(cfg);
    let served = Served::new(&crate::openapi::document(&state.public_url));
    cfg.app_data(web::Data::new(state)).app_data(web::Data::new(served));
    routes(&mut ServiceConfig::new(cfg));
    cfg.default_service(web::to(crate::openapi::unrouted));
}

/// Every route of the API.
pub(crate) fn routes(cfg: &mut ServiceConfig) {
    // actix-web tries resources in this order, matching each dynamic path by regex: the
    // providers' webhooks, the busiest routes, come first (behind the REST API they cost about
    // 2 % of a webhook's CPU in route matching alone). No two paths overlap, so order is speed only.
    cfg.configure(crate::webhooks::routes)
        .configure(crate::meta::routes)
        .service(healthz)
        .service(readyz)
        .service(crate::metrics::metrics_with_credentials)
        .service(crate::openapi::openapi_json)
        .configure(crate::flex::routes)
        .configure(crate::flex_channels::routes)
        .configure(crate::media::routes)
        .configure(crate::chat::routes)
        .configure(crate::taskrouter::routes)
        .configure(crate::studio::routes)
        .configure(crate::admin::routes)
        .configure(crate::console::routes)
        .configure(crate::logging::routes)
        .configure(crate::ws::routes)
        .configure(crate::webchat::routes)
        .configure(crate::webchat_flows::routes)
        .configure(crate::webchat_history::routes)
        .configure(crate::webchat_pages::routes);
}

/// What the health answers are.
const TEXT: &str = "text/plain; charset=utf-8";

/// Whether the process is up.
#[utoipa::path(
    tag = "Operations",
    security(()),
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")),
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type(TEXT).body("ok")
}

/// Whether the engine takes requests (its store is open and its actors run).
#[utoipa::path(
    tag = "Operations",
    security(()),
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = "`not ready: …`", body = String, content_type = "text/plain"),
    ),
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.operations().check_ready() {
        Ok(()) => HttpResponse::Ok().content_type(TEXT).body("ready"),
        Err(error) => HttpResponse::ServiceUnavailable()
            .content_type(TEXT)
            .body(format!("not ready: {error}")),
    }
}
