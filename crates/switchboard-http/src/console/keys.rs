//! API keys from the admin view: the daemon's keys (their SIDs only), a new one (kept sealed in
//! the data folder; its secret shown this once), and revoking one (out of the folder and out of
//! the running daemon at once: a call with it is 401 from then on). A key given in the
//! configuration is not the folder's to revoke, nor is the last key (it signs console tokens).
//! Admins only, with the session's CSRF token on changes.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_domain::{ConsoleAction, Sid, SidPrefix};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::agent::no_store;
use super::session::SignedIn;
use crate::state::{AppState, Secret};
use crate::twilio::error::ApiError;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(revoke);
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// `SK…`
    pub sid: String,
    /// Whether it signs the console's access tokens (the first by SID).
    pub signs_console_tokens: bool,
    /// Its secret, only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}

/// The daemon's API keys, by SID.
#[utoipa::path(
    tag = "Console",
    operation_id = "ListConsoleApiKey",
    security(("consoleSession" = [])),
    responses((status = 200, description = "The keys", body = ApiKeyList)),
)]
#[get("/console/api-keys")]
async fn list(state: web::Data<AppState>, signed_in: SignedIn) -> Result<HttpResponse, ApiError> {
    signed_in.may(ConsoleAction::Administer)?;
    let keys = &state.credentials.api_keys;
    let signing = keys.first().map(|(sid, _)| sid);
    let keys = keys
        .sids()
        .into_iter()
        .map(|sid| ApiKeyView {
            sid: sid.to_string(),
            signs_console_tokens: Some(sid) == signing,
            secret: None,
        })
        .collect();
    Ok(no_store().json(ApiKeyList { keys }))
}

/// Makes an API key: 201 with its secret, shown this once.
#[utoipa::path(
    tag = "Console",
    operation_id = "CreateConsoleApiKey",
    security(("consoleSession" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 201, description = "The new key and its secret", body = ApiKeyView)),
)]
#[post("/console/api-keys")]
async fn create(state: web::Data<AppState>, signed_in: SignedIn) -> Result<HttpResponse, ApiError> {
    signed_in.may(ConsoleAction::Administer)?;
    let (sid, secret) = state.engine.create_api_key().await?;
    state.credentials.api_keys.insert(sid, Secret::new(secret.clone()));
    tracing::info!(api_key_sid = %sid, person_sid = ?signed_in.person.sid, "API key made");
    let signs_console_tokens = state.credentials.api_keys.first().is_some_and(|(s, _)| s == sid);
    let mut created = HttpResponse::Created();
    created.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    Ok(created.json(ApiKeyView {
        sid: sid.to_string(),
        signs_console_tokens,
        secret: Some(secret),
    }))
}

/// Revokes an API key: 204; refused (409) for the last key or one the configuration gives.
#[utoipa::path(
    tag = "Console",
    operation_id = "DeleteConsoleApiKey",
    security(("consoleSession" = [])),
    params(
        ("sid" = String, Path, description = "The key (`SK…`)"),
        ("X-CSRF-Token" = String, Header, description = "The session's CSRF token"),
    ),
    responses((status = 204, description = "Revoked")),
)]
#[delete("/console/api-keys/{sid}")]
async fn revoke(
    state: web::Data<AppState>,
    request: HttpRequest,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    signed_in.may(ConsoleAction::Administer)?;
    let not_found = || ApiError::not_found(request.path());
    let text = request.match_info().get("sid").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::API_KEY).map_err(|_| not_found())?;
    let keys = &state.credentials.api_keys;
    keys.get(&sid).ok_or_else(not_found)?;
    if keys.sids().len() == 1 {
        return Err(ApiError::conflict(20409, "The last API key cannot be revoked"));
    }
    if !state.engine.revoke_api_key(sid).await? {
        return Err(ApiError::conflict(
            20409,
            "This key is given in the configuration: remove it there",
        ));
    }
    keys.remove(&sid);
    tracing::info!(api_key_sid = %sid, person_sid = ?signed_in.person.sid, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}
