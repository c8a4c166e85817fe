//! Wiring of every route, shared by the daemon and the tests.
//!
//! [`routes`] is the one place routes are registered, through `utoipa-actix-web`'s
//! `ServiceConfig`, which takes only handlers that carry their OpenAPI operation: the served app
//! and the OpenAPI document (`crate::openapi::document`) are both made by running it.

use actix_web::{get, web, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::openapi::Served;
use crate::route_shapes::{by_shape, Routes};
use crate::state::AppState;

/// Registers every route, the OpenAPI document and the error handlers on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    crate::twilio::error::configure_extractor_errors(cfg);
    let served = Served::new(&crate::openapi::document(&state.public_url));
    cfg.app_data(web::Data::new(state)).app_data(web::Data::new(served));
    routes(&mut ServiceConfig::new(cfg));
    cfg.default_service(web::to(crate::openapi::unrouted));
}

/// Every route of the API, group by group.
pub(crate) fn routes(cfg: &mut ServiceConfig) {
    for group in GROUPS.into_iter().flatten() {
        cfg.service(by_shape(*group));
    }
}

/// Every group of routes, each entered only by a path of one of its own shapes
/// (`crate::route_shapes`; no two groups admit the same path, which the tests check). Groups are
/// tried in this order, each by its shapes alone, so the order is speed only: the providers'
/// webhooks, the busiest routes, first.
const GROUPS: [&[Routes]; 5] = [
    &[
        crate::webhooks::routes,
        crate::meta::routes,
        operations,
        crate::flex::routes,
        crate::flex_channels::routes,
        crate::media::routes,
    ],
    crate::chat::GROUPS,
    crate::taskrouter::GROUPS,
    crate::studio::GROUPS,
    &[
        crate::admin::routes,
        crate::console::routes,
        crate::logging::routes,
        crate::ws::routes,
        crate::webchat::routes,
        crate::webchat_flows::routes,
        crate::webchat_history::routes,
        crate::webchat_pages::routes,
    ],
];

/// Health, metrics and this API's document.
fn operations(cfg: &mut ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(crate::metrics::metrics_with_credentials)
        .service(crate::openapi::openapi_json);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route_shapes::Shapes;

    fn every_groups_shapes() -> Vec<Shapes> {
        GROUPS.into_iter().flatten().map(|group| Shapes::of_routes(*group)).collect()
    }

    #[test]
    fn no_two_groups_admit_the_same_path() {
        let groups = every_groups_shapes();
        for (n, first) in groups.iter().enumerate() {
            for later in &groups[n + 1..] {
                assert_eq!(
                    first.overlap(later),
                    None,
                    "two groups admit this path: the router would never reach the later one's route"
                );
            }
        }
    }

    #[test]
    fn every_documented_path_is_admitted_by_exactly_one_group() {
        let groups = every_groups_shapes();
        let document = crate::openapi::rendered(&crate::openapi::document("https://x.example"));
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.len() > 100, "{} paths", paths.len());
        for template in paths.keys() {
            let concrete: String = template
                .split('/')
                .map(|segment| if segment.starts_with('{') { "XX0123" } else { segment })
                .collect::<Vec<_>>()
                .join("/");
            let admitting = groups.iter().filter(|shapes| shapes.admits(&concrete)).count();
            assert_eq!(admitting, 1, "{concrete} (documented as {template})");
        }
    }
}
