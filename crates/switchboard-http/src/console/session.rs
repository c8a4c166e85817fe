//! Console sessions: what a sign-in opens, whatever proved who the person is (a password today;
//! an OIDC login later calls [`Sessions::open`] the same way). A session is a random bearer
//! secret in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the daemon is served over
//! TLS), kept in memory by its SHA-256 only, with a CSRF token the console sends back in the
//! `X-CSRF-Token` header of every call that changes something: a request that carries the
//! cookie alone is refused. Sessions end at sign-out, after [`SESSION_LIFETIME`], when the person
//! signs out everywhere (their `session_epoch` moves on) or when the daemon restarts.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{dev::Payload, http::Method, web, FromRequest, HttpRequest};
use subtle::ConstantTimeEq;
use switchboard_crypto::password::{random_secret, secret_digest};
use switchboard_domain::{permits, ConsoleAction, PersonRole, PersonState, Sid, Timestamp};

use crate::state::AppState;
use crate::twilio::error::ApiError;

/// The session cookie's name.
pub const COOKIE: &str = "sb_console";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// How long a session lasts from its sign-in: a working day.
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;
/// The most sessions kept for one person: opening one more ends their oldest.
const SESSIONS_PER_PERSON: usize = 20;
/// The most sessions kept at all: past it, a sign-in ends the oldest session of the server.
const MAX_SESSIONS: usize = 100_000;

/// One open session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub person: Sid,
    /// The person's `session_epoch` when it opened: a sign-out everywhere moves it on.
    pub epoch: u64,
    pub csrf: String,
    pub opened: Timestamp,
}

/// Every open session, by the digest of its secret. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

impl Sessions {
    /// Opens a session for `person` (who proved who they are), returning its secret for the
    /// cookie and its CSRF token.
    pub fn open(&self, person: &PersonState, now: Timestamp) -> Option<(String, Session)> {
        let secret = random_secret();
        let session = Session {
            person: person.sid?,
            epoch: person.session_epoch,
            csrf: random_secret(),
            opened: now,
        };
        let mut all = self.lock();
        all.retain(|_, s| live(s, now));
        let theirs = all.values().filter(|s| s.person == session.person).count();
        if theirs >= SESSIONS_PER_PERSON {
            oldest_where(&mut all, |s| s.person == session.person);
        }
        if all.len() >= MAX_SESSIONS {
            oldest_where(&mut all, |_| true);
        }
        all.insert(secret_digest(&secret), session.clone());
        Some((secret, session))
    }

    /// The live session of a cookie's secret.
    pub fn find(&self, secret: &str, now: Timestamp) -> Option<Session> {
        let digest = secret_digest(secret);
        let mut all = self.lock();
        match all.get(&digest) {
            Some(session) if live(session, now) => Some(session.clone()),
            Some(_) => {
                all.remove(&digest);
                None
            }
            None => None,
        }
    }

    /// Ends the session of a cookie's secret.
    pub fn close(&self, secret: &str) {
        self.lock().remove(&secret_digest(secret));
    }

    /// Ends every session of `person` kept here (the epoch ends them anyway; this frees them).
    pub fn close_all(&self, person: Sid) {
        self.lock().retain(|_, s| s.person != person);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn live(session: &Session, now: Timestamp) -> bool {
    now.as_millis() < session.opened.as_millis().saturating_add(SESSION_LIFETIME_MS)
}

fn oldest_where(all: &mut HashMap<String, Session>, pick: impl Fn(&Session) -> bool) {
    let oldest = all.iter().filter(|(_, s)| pick(s)).min_by_key(|(_, s)| s.opened);
    if let Some(key) = oldest.map(|(key, _)| key.clone()) {
        all.remove(&key);
    }
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
    /// The cookie's secret, to end this session.
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
    let session = state.sessions.find(&secret, now).ok_or_else(signed_out)?;
    let person = state.engine.people().get(session.person).ok_or_else(signed_out)?;
    if person.session_epoch != session.epoch {
        state.sessions.close(&secret);
        return Err(signed_out());
    }
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
    use switchboard_domain::SidPrefix;

    fn person(n: u8) -> PersonState {
        PersonState {
            sid: Some(Sid::from_parts(SidPrefix::PERSON, [n; 16])),
            role: Some(PersonRole::Agent),
            ..PersonState::default()
        }
    }

    #[test]
    fn a_session_is_found_by_its_secret_until_closed_or_expired() {
        let sessions = Sessions::default();
        let now = Timestamp::from_millis(1_000);
        let (secret, session) = sessions.open(&person(1), now).unwrap();
        assert_eq!(sessions.find(&secret, now), Some(session.clone()));
        assert_eq!(sessions.find("not the secret", now), None);
        let late = Timestamp::from_millis(1_000 + SESSION_LIFETIME_MS);
        assert_eq!(sessions.find(&secret, late), None, "past its lifetime");
        let (secret, _) = sessions.open(&person(1), now).unwrap();
        sessions.close(&secret);
        assert_eq!(sessions.find(&secret, now), None);
        assert_ne!(session.csrf, secret);
    }

    #[test]
    fn one_person_keeps_a_bounded_number_of_sessions_and_close_all_ends_only_theirs() {
        let sessions = Sessions::default();
        let first = sessions.open(&person(1), Timestamp::from_millis(1)).unwrap().0;
        for n in 0..SESSIONS_PER_PERSON {
            sessions.open(&person(1), Timestamp::from_millis(2 + n as i64));
        }
        let now = Timestamp::from_millis(100);
        assert_eq!(sessions.find(&first, now), None, "the oldest made room");
        let other = sessions.open(&person(2), now).unwrap().0;
        sessions.close_all(person(1).sid.unwrap());
        assert!(sessions.find(&other, now).is_some());
        assert_eq!(sessions.lock().len(), 1);
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
