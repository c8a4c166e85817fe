//! HTTP Basic authentication of REST calls, as Twilio does it: the account SID with its auth
//! token, or an API key SID (`SK…`) with its secret; or, for the console's admin view, the
//! session of a signed-in admin (with the session's CSRF token on every change), which acts with
//! the account's authority, so the console calls the REST routes themselves. Deny by default.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use switchboard_domain::{ConsoleAction, Sid};

use crate::state::AppState;
use crate::twilio::error::ApiError;

/// Who made an authenticated REST call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Account,
    ApiKey(Sid),
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(request))
    }
}

/// Checks a request's Basic credentials, within the rate limits: an address whose failed
/// authentications used their budget is refused before anything is checked, a failure counts
/// against the address, and a success spends one request of the credential's own budget
/// (`rate.rs`).
pub(crate) fn authenticate(request: &HttpRequest) -> Result<Principal, ApiError> {
    let state = request.app_data::<web::Data<AppState>>().ok_or_else(ApiError::internal)?;
    let ip = request.peer_addr().map(|peer| peer.ip());
    state.rate.before_authentication(ip)?;
    if let Some(principal) = admin_session(request)? {
        return Ok(principal);
    }
    let Some(principal) = check(state, request) else {
        state.rate.failed_authentication(ip)?;
        return Err(ApiError::unauthorized());
    };
    let credential = match principal {
        Principal::Account => state.credentials.account_sid,
        Principal::ApiKey(key_sid) => key_sid,
    };
    state.rate.credential(credential)?;
    Ok(principal)
}

/// A request with a console session cookie and no Basic credentials is the console's: it acts
/// as the account if the session is an admin's (any other role is refused; a stale session or a
/// missing CSRF token too, by `signed_in`). `None`: no session, so Basic decides.
fn admin_session(request: &HttpRequest) -> Result<Option<Principal>, ApiError> {
    let basic = request.headers().contains_key(actix_web::http::header::AUTHORIZATION);
    if basic || !crate::console::session::has_cookie(request) {
        return Ok(None);
    }
    let signed_in = crate::console::session::signed_in(request)?;
    signed_in.may(ConsoleAction::Administer)?;
    Ok(Some(Principal::Account))
}

/// Who the request's Basic credentials are, if they are right.
fn check(state: &AppState, request: &HttpRequest) -> Option<Principal> {
    let (user, password) = basic_credentials(request)?;
    let credentials = &state.credentials;
    if user == credentials.account_sid.to_string() && credentials.auth_token.matches(&password) {
        return Some(Principal::Account);
    }
    let key_sid = user.parse::<Sid>().ok()?;
    let secret = credentials.api_keys.get(&key_sid)?;
    secret.matches(&password).then_some(Principal::ApiKey(key_sid))
}

fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let header = request.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
