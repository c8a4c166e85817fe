//! Wiring of every route, shared by the daemon and the tests.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Registers every route and the error handlers on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    crate::twilio::error::configure_extractor_errors(cfg);
    cfg.app_data(web::Data::new(state))
        .route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
        .route("/readyz", web::get().to(ready))
        .configure(crate::flex::configure)
        .configure(crate::flex_channels::configure)
        .configure(crate::media::configure)
        .configure(crate::chat::configure)
        .configure(crate::chat_users::configure)
        .configure(crate::channel_webhooks::configure)
        .configure(crate::chat_invites::configure)
        .configure(crate::webhooks::configure)
        .configure(crate::meta::configure)
        .configure(crate::admin::configure)
        .configure(crate::ws::configure)
        .default_service(web::to(crate::twilio::error::not_found));
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.check_ready() {
        Ok(()) => HttpResponse::Ok().body("ready"),
        Err(error) => HttpResponse::ServiceUnavailable().body(format!("not ready: {error}")),
    }
}
