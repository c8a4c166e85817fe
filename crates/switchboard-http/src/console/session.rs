//! Console sessions: what a sign-in opens, whatever proved who the person is (a password today;
//! an OIDC login later calls [`Sessions::open`] the same way). A session is a random bearer
//! secret in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the daemon is served over
//! TLS), with a CSRF token the console sends back in the `X-CSRF-Token` header of every call that
//! changes something: a request that carries the cookie alone is refused. The token is derived
//! from the secret (a SHA-256 under a label of its own, which the stored digest does not give),
//! so it is never stored.
//!
//! Sessions are durable: opening one records it in the person's own stream (the `signed_in`
//! event carries the SHA-256 of the secret, never the secret; the stream is encrypted at rest
//! like the whole log) before the cookie is answered, and the person's state
//! keeps their live sessions ([`switchboard_domain::PersonState::sessions`], at most
//! [`SESSIONS_PER_PERSON`]). The people directory holds every person in memory and loads them at
//! start, so a session is found there, and a restart or an upgrade signs nobody out. The cookie
//! is `<person SID>.<secret>`, so a lookup reads one person. Sessions end at sign-out (a
//! `signed_out` event), after [`SESSION_LIFETIME_MS`], or when the person signs out everywhere
//! (`signed_out_everywhere` drops them all).

use std::future::{ready, Ready};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{dev::Payload, http::Method, web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;
use switchboard_actors::PeopleDirectory;
use switchboard_crypto::password::{random_secret, secret_digest};
use switchboard_domain::{
    permits, ConsoleAction, OpenedSession, PersonCommand, PersonRole, PersonState, Sid, SidPrefix,
    Timestamp,
};
pub use switchboard_domain::{SESSIONS_PER_PERSON, SESSION_LIFETIME_MS};

use crate::state::AppState;
use crate::twilio::error::ApiError;

/// The session cookie's name.
pub const COOKIE: &str = "sb_console";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// One open session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub person: Sid,
    /// The person's `session_epoch` when it was found.
    pub epoch: u64,
    pub csrf: String,
    pub opened: Timestamp,
}

/// The console's sessions, kept in the people's streams: this handle holds nothing itself.
#[derive(Debug, Clone, Default)]
pub struct Sessions;

impl Sessions {
    /// Opens a session for `person` (who proved who they are): records the sign-in, from
    /// `address`, with the session, durably; returns the cookie's value, the session and the
    /// person as the sign-in leaves them.
    pub async fn open(
        &self,
        people: &PeopleDirectory,
        person: &PersonState,
        address: Option<String>,
        now: Timestamp,
    ) -> Result<(String, Session, PersonState), ApiError> {
        let sid = person.sid.ok_or_else(ApiError::internal)?;
        let secret = random_secret();
        let opened = OpenedSession { digest: secret_digest(&secret) };
        let csrf = csrf_of(&secret);
        let recorded = PersonCommand::RecordSignIn { address, session: Some(opened) };
        let person = people
            .execute(sid, vec![recorded], now)
            .await?
            .map_err(|_| ApiError::unauthorized().without_challenge())?;
        let session = Session { person: sid, epoch: person.session_epoch, csrf, opened: now };
        Ok((format!("{sid}.{secret}"), session, person))
    }

    /// The live session of a cookie's value, and its person.
    pub fn find(
        &self,
        people: &PeopleDirectory,
        cookie: &str,
        now: Timestamp,
    ) -> Option<(Session, PersonState)> {
        let (sid, secret) = split(cookie)?;
        let person = people.get(sid)?;
        let kept = person.session(&secret_digest(secret), now)?;
        let session = Session {
            person: sid,
            epoch: person.session_epoch,
            csrf: csrf_of(secret),
            opened: kept.opened,
        };
        Some((session, person))
    }

    /// Ends the session of a cookie's value (a `signed_out` event, durably).
    pub async fn close(
        &self,
        people: &PeopleDirectory,
        cookie: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let Some((sid, secret)) = split(cookie) else { return Ok(()) };
        let command = PersonCommand::SignOut { digest: secret_digest(secret) };
        people.execute(sid, vec![command], now).await?.ok();
        Ok(())
    }
}

/// The CSRF token of the session whose cookie holds `secret`: a SHA-256 (hex) of the secret
/// under a label of its own, so neither the token nor the stored digest gives the other.
fn csrf_of(secret: &str) -> String {
    secret_digest(&format!("switchboard console csrf\0{secret}"))
}

/// A cookie's value as its person and secret.
fn split(cookie: &str) -> Option<(Sid, &str)> {
    let (sid, secret) = cookie.split_once('.')?;
    let sid = Sid::parse_with(sid, SidPrefix::PERSON).ok()?;
    (!secret.is_empty()).then_some((sid, secret))
}

/// The cookie that carries a session's secret (an empty one that expires now, to clear it).
pub fn cookie(secret: &str, secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, secret.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    if secret.is_empty() {
        cookie.make_removal();
    } else {
        cookie.set_max_age(actix_web::cookie::time::Duration::milliseconds(SESSION_LIFETIME_MS));
    }
    cookie
}

/// Whether cookies must be `Secure`: the daemon is reached over TLS.
pub fn secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

/// A request from a signed-in person, checked: the session is live, the person still exists and
/// has not signed out everywhere since, and a request that may change something carries the
/// session's CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub person: PersonState,
    pub role: PersonRole,
    pub session: Session,
    /// The cookie's value, to end this session.
    pub secret: String,
}

impl SignedIn {
    /// Refuses what the person's role may not do (`switchboard_domain::permits`).
    pub fn may(&self, action: ConsoleAction) -> Result<(), ApiError> {
        if permits(self.role, action) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!("A person of role {} may not do this", self.role.as_str())))
    }
}

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = Ready<Result<SignedIn, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(signed_in(request))
    }
}

/// Whether the request carries a session cookie (not whether it is good).
pub fn has_cookie(request: &HttpRequest) -> bool {
    request.cookie(COOKIE).is_some()
}

/// 401 for a request without a live session, with no Basic challenge (a browser would prompt).
fn signed_out() -> ApiError {
    ApiError::unauthorized().without_challenge()
}

pub(crate) fn signed_in(request: &HttpRequest) -> Result<SignedIn, ApiError> {
    let state = request.app_data::<web::Data<AppState>>().ok_or_else(ApiError::internal)?;
    let cookie = request.cookie(COOKIE).ok_or_else(signed_out)?;
    let secret = cookie.value().to_owned();
    let now = state.engine.now();
    let (session, person) =
        state.sessions.find(state.engine.people(), &secret, now).ok_or_else(signed_out)?;
    if changes_something(request.method()) && !csrf_matches(request, &session.csrf) {
        return Err(ApiError::forbidden(format!(
            "A signed-in call that changes something needs the session's {CSRF_HEADER} header"
        )));
    }
    let role = person.role.ok_or_else(signed_out)?;
    Ok(SignedIn { person, role, session, secret })
}

/// Every method but the safe ones may change something (deny by default).
fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_matches(request: &HttpRequest, expected: &str) -> bool {
    let given = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    given.is_some_and(|given| bool::from(given.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_names_its_person_and_carries_the_secret() {
        let sid = Sid::from_parts(SidPrefix::PERSON, [1; 16]);
        let value = format!("{sid}.abc");
        assert_eq!(split(&value), Some((sid, "abc")));
        assert_eq!(split(&format!("{sid}.")), None);
        assert_eq!(split("abc"), None);
        let channel = Sid::from_parts(SidPrefix::CHANNEL, [1; 16]);
        assert_eq!(split(&format!("{channel}.abc")), None, "a person's SID only");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_asked() {
        let text = cookie("abc", true).to_string();
        for part in ["sb_console=abc", "HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!cookie("abc", false).to_string().contains("Secure"));
        assert!(cookie("", false).to_string().contains("Max-Age=0"));
        assert!(changes_something(&Method::POST) && changes_something(&Method::DELETE));
        assert!(!changes_something(&Method::GET));
    }
}
