//! Signing in and out of the console, who is signed in, the access tokens the console opens the
//! WebSocket with, and setting a password through a one-time link. A password is checked with
//! argon2id off the request threads (`web::block`); failures count against the account and the
//! address (`rate.rs`) and are recorded in the person's stream, as are sign-ins.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use switchboard_crypto::password;
use switchboard_domain::{
    valid_username, ConsoleAction, PersonCommand, PersonRejection, PersonState, Sid,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::session::{cookie, secure, SignedIn};
use super::{person_view, PersonView};
use crate::state::AppState;
use crate::twilio::error::ApiError;

/// How long a console access token lives: the console asks for a new one before it ends.
pub const CONSOLE_TOKEN_TTL_SECS: i64 = 10 * 60;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(sign_in)
        .service(sign_out)
        .service(sign_out_everywhere)
        .service(me)
        .service(access_token)
        .service(set_password);
}

/// A username and password, as JSON or a form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Who is signed in, and the token their calls that change something must carry.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInView {
    pub person: PersonView,
    /// Send it back in the `X-CSRF-Token` header of every POST.
    pub csrf_token: String,
}

/// Reads a JSON or form body into `T`.
pub(super) fn body<T: serde::de::DeserializeOwned>(
    request: &HttpRequest,
    bytes: &[u8],
) -> Result<T, ApiError> {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed = if json {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    } else {
        serde_urlencoded_pairs(bytes)
    };
    parsed.map_err(|e| ApiError::bad_param(format!("The body is not what was expected: {e}")))
}

/// A form body as `T`, through JSON (every field a string).
fn serde_urlencoded_pairs<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let map: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
}

/// Signs a person in: a session cookie, and the CSRF token. Wrong or unknown names and passwords
/// get the same 401; past the failures an account or an address may have, 429.
#[utoipa::path(
    tag = "Console",
    operation_id = "CreateConsoleSession",
    security(()),
    request_body(content = Credentials, content_type = "application/json",
        description = "Also as a form (`username`, `password`)"),
    responses((status = 200, description = "Signed in; the cookie is set", body = SignedInView)),
)]
#[post("/console/login")]
async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let given: Credentials = body(&request, &bytes)?;
    let ip = request.peer_addr().map(|peer| peer.ip());
    state.rate.before_authentication(ip)?;
    if valid_username(&given.username) {
        state.rate.before_sign_in(&given.username)?;
    }
    let person = state.engine.people().by_username(&given.username);
    let address = ip.map(|ip| ip.to_string());
    let Some(person) = check_password(person, given.password).await? else {
        return refuse(&state, &given.username, ip, address).await;
    };
    let sid = person.sid.ok_or_else(ApiError::internal)?;
    let people = state.engine.people();
    let (secret, session, person) =
        state.sessions.open(people, &person, address, state.engine.now()).await?;
    tracing::info!(person_sid = %sid, "console sign-in");
    Ok(HttpResponse::Ok()
        .cookie(cookie(&secret, secure(&state)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SignedInView { person: person_view(&person), csrf_token: session.csrf }))
}

/// The person if `password` is theirs; a verification's worth of time is spent either way.
async fn check_password(
    person: Option<PersonState>,
    password: String,
) -> Result<Option<PersonState>, ApiError> {
    if password.len() > password::MAX_PASSWORD_BYTES {
        return Ok(None);
    }
    web::block(move || {
        let hash = person.as_ref().and_then(|p| p.password_hash.clone());
        match hash {
            Some(hash) if password::verify_password(&password, &hash) => person,
            Some(_) => None,
            None => {
                password::verify_nothing(&password);
                None
            }
        }
    })
    .await
    .map_err(|_| ApiError::internal())
}

/// A failed sign-in: recorded in the person's stream when the name is a person's, counted
/// against the account and the address, and answered as any failure is.
async fn refuse(
    state: &AppState,
    username: &str,
    ip: Option<std::net::IpAddr>,
    address: Option<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(sid) = state.engine.people().by_username(username).and_then(|p| p.sid) {
        let recorded = PersonCommand::RecordFailedSignIn { address };
        state.engine.people().execute(sid, vec![recorded], state.engine.now()).await?.ok();
        tracing::warn!(person_sid = %sid, "console sign-in refused: wrong password");
    } else {
        tracing::warn!("console sign-in refused: no such person");
    }
    let by_address = state.rate.failed_authentication(ip);
    // Only a name that may be a username is a key of the account limit (bounded keys).
    let by_account =
        if valid_username(username) { state.rate.failed_sign_in(username) } else { Ok(()) };
    by_address?;
    by_account?;
    Err(ApiError::unauthorized().without_challenge())
}

pub(super) fn changed(
    change: Result<PersonState, PersonRejection>,
) -> Result<PersonState, ApiError> {
    change.map_err(|rejection| match rejection {
        PersonRejection::NotFound => ApiError::unauthorized().without_challenge(),
        PersonRejection::UsernameTaken(_) => ApiError::conflict(20409, rejection.to_string()),
        other => ApiError::bad_param(other.to_string()),
    })
}

/// Ends this session.
#[utoipa::path(
    tag = "Console",
    operation_id = "DeleteConsoleSession",
    security(("consoleSession" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 204, description = "Signed out; the cookie is cleared")),
)]
#[post("/console/logout")]
async fn sign_out(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let people = state.engine.people();
    state.sessions.close(people, &signed_in.secret, state.engine.now()).await?;
    Ok(HttpResponse::NoContent().cookie(cookie("", secure(&state))).finish())
}

/// Ends every session of the signed-in person, on every device (an audit event).
#[utoipa::path(
    tag = "Console",
    operation_id = "DeleteEveryConsoleSession",
    security(("consoleSession" = [])),
    params(("X-CSRF-Token" = String, Header, description = "The session's CSRF token")),
    responses((status = 204, description = "Every session ended; the cookie is cleared")),
)]
#[post("/console/logout-everywhere")]
async fn sign_out_everywhere(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    let sid = signed_in.session.person;
    let command = vec![PersonCommand::SignOutEverywhere];
    changed(state.engine.people().execute(sid, command, state.engine.now()).await?)?;
    Ok(HttpResponse::NoContent().cookie(cookie("", secure(&state))).finish())
}

/// Who is signed in (and the CSRF token again, for a console page that was reloaded).
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsoleSession",
    security(("consoleSession" = [])),
    responses((status = 200, description = "The signed-in person", body = SignedInView)),
)]
#[get("/console/me")]
async fn me(signed_in: SignedIn) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(SignedInView {
        person: person_view(&signed_in.person),
        csrf_token: signed_in.session.csrf,
    })
}

/// A console access token for the WebSocket.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsoleTokenView {
    /// A Twilio-format access token: the chat grant of the person's identity in their Chat
    /// service, and `grants.task_router` {workspace_sid, worker_sid, role}.
    pub token: String,
    pub identity: String,
    /// Seconds it lives.
    pub ttl: i64,
}

/// A short-lived access token for the signed-in person's WebSocket.
#[utoipa::path(
    tag = "Console",
    operation_id = "CreateConsoleToken",
    security(("consoleSession" = [])),
    responses((status = 200, description = "The token", body = ConsoleTokenView)),
)]
#[get("/console/token")]
async fn access_token(
    state: web::Data<AppState>,
    signed_in: SignedIn,
) -> Result<HttpResponse, ApiError> {
    signed_in.may(ConsoleAction::UseConsole)?;
    let person = &signed_in.person;
    let links = person.links.ok_or_else(|| {
        ApiError::conflict(20409, "The person has no chat user and worker yet: add them again")
    })?;
    let now_secs = state.engine.now().as_millis() / 1000;
    let (key_sid, secret) = signing_key(&state)?;
    let claims = serde_json::json!({
        "jti": format!("{key_sid}-{now_secs}"),
        "iss": key_sid.to_string(),
        "sub": state.credentials.account_sid.to_string(),
        "nbf": now_secs,
        "exp": now_secs + CONSOLE_TOKEN_TTL_SECS,
        "grants": {
            "identity": person.username,
            "chat": { "service_sid": links.chat_service_sid.to_string() },
            "task_router": {
                "workspace_sid": links.workspace_sid.to_string(),
                "worker_sid": links.worker_sid.to_string(),
                "role": signed_in.role.as_str(),
            },
        },
    });
    let mut header = Header::new(Algorithm::HS256);
    header.cty = Some("twilio-fpa;v=1".to_owned());
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes()))
            .map_err(|_| ApiError::internal())?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(
        ConsoleTokenView { token, identity: person.username.clone(), ttl: CONSOLE_TOKEN_TTL_SECS },
    ))
}

/// The API key that signs console tokens: the daemon's first, by SID (as the CLI's tools pick).
fn signing_key(state: &AppState) -> Result<(Sid, String), ApiError> {
    let (sid, secret) = state.credentials.api_keys.first().ok_or_else(|| {
        tracing::error!("no API key to sign console tokens with");
        ApiError::internal()
    })?;
    Ok((sid, secret.expose().to_owned()))
}

/// A new password, with the secret of a set-password link.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewPassword {
    pub token: String,
    pub password: String,
}

/// Sets a password through a one-time link (it works once, before it expires).
#[utoipa::path(
    tag = "Console",
    operation_id = "UpdateConsolePassword",
    security(()),
    request_body(content = NewPassword, content_type = "application/json",
        description = "Also as a form (`token`, `password`)"),
    responses((status = 204, description = "The password is set; sign in with it")),
)]
#[post("/console/password")]
async fn set_password(
    state: web::Data<AppState>,
    request: HttpRequest,
    bytes: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let given: NewPassword = body(&request, &bytes)?;
    let ip = request.peer_addr().map(|peer| peer.ip());
    state.rate.before_authentication(ip)?;
    if let Some(problem) = password::password_problem(&given.password) {
        return Err(ApiError::bad_param(problem));
    }
    let digest = password::secret_digest(&given.token);
    let Some(sid) = state.engine.people().by_link_digest(&digest).and_then(|p| p.sid) else {
        state.rate.failed_authentication(ip)?;
        return Err(link_refused());
    };
    let hash = web::block(move || password::hash_password(&given.password))
        .await
        .map_err(|_| ApiError::internal())?;
    let at = state.engine.now();
    let command = PersonCommand::SetPasswordWithLink { digest, hash, at };
    match state.engine.people().execute(sid, vec![command], at).await? {
        Ok(_) => Ok(HttpResponse::NoContent().finish()),
        Err(_) => Err(link_refused()),
    }
}

fn link_refused() -> ApiError {
    ApiError::new(
        401,
        20003,
        "The set-password link is not valid: it was used, replaced or expired",
    )
    .without_challenge()
}
