//! `/admin/v1/People`: the console's people, for the account's own credentials or a signed-in
//! person whose role may manage people (with the session's CSRF token on changes). Adding a
//! person makes their Chat user and worker too, and a one-time set-password link; adding the same
//! person again (a retry) finds what the first attempt made and completes it.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_actors::AddPersonError;
use switchboard_crypto::password;
use switchboard_domain::{
    PersonCommand, PersonRejection, PersonRole, PersonState, Sid, SidPrefix, Timestamp,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::{person_view, PersonView};
use crate::auth::{authenticate, Principal};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::form::TwilioForm;

/// How long a set-password link works.
pub const PASSWORD_LINK_LIFETIME_MS: i64 = 72 * 3600 * 1000;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(fetch).service(update).service(password_link);
}

/// Who may manage people: the account's own Basic credentials, or a signed-in person whose role
/// permits it. Anything else is refused (deny by default).
#[derive(Debug)]
pub struct PeopleManager;

impl actix_web::FromRequest for PeopleManager {
    type Error = ApiError;
    type Future = std::future::Ready<Result<PeopleManager, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(manager(request))
    }
}

fn manager(request: &HttpRequest) -> Result<PeopleManager, ApiError> {
    // A signed-in admin's session counts as the account (`auth`); an admin also manages people.
    match authenticate(request)? {
        Principal::Account => Ok(PeopleManager),
        Principal::ApiKey(_) => {
            Err(ApiError::forbidden("Managing people needs the account's own credentials"))
        }
    }
}

/// The people, oldest first (not paged: a console's people are few).
#[derive(Debug, Serialize, ToSchema)]
pub struct PeopleList {
    pub people: Vec<PersonView>,
}

/// Every person.
#[utoipa::path(
    tag = "Console",
    operation_id = "ListPerson",
    security(("basic" = []), ("consoleSession" = [])),
    responses((status = 200, description = "The people", body = PeopleList)),
)]
#[get("/admin/v1/People")]
async fn list(_: PeopleManager, state: web::Data<AppState>) -> web::Json<PeopleList> {
    web::Json(PeopleList { people: state.engine.people().list().iter().map(person_view).collect() })
}

/// Adds a person (`Username`, `Role`: agent, supervisor or admin) with their Chat user and
/// TaskRouter worker; 201 with a one-time `set_password_url`. The same person again is a retry:
/// 200, whatever the first attempt left undone completed, and a new link if they have no
/// password yet. The same username with another role is 409.
#[utoipa::path(
    tag = "Console",
    operation_id = "CreatePerson",
    security(("basic" = []), ("consoleSession" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", content = String,
        description = "`Username` (a-z, 0-9, `.`, `_`, `-`, `@`; at most 64) and `Role`"),
    responses(
        (status = 201, description = "Added", body = PersonView),
        (status = 200, description = "Already there (a retry), completed", body = PersonView),
    ),
)]
#[post("/admin/v1/People")]
async fn create(
    _: PeopleManager,
    state: web::Data<AppState>,
    form: TwilioForm,
) -> Result<HttpResponse, ApiError> {
    let username = form.require("Username")?.to_owned();
    let role = role_param(form.require("Role")?)?;
    let account = state.credentials.account_sid;
    let (person, made) =
        state.engine.add_person(account, &username, role).await.map_err(add_refused)?;
    let link = match person.password_hash {
        None => Some(issue_link(&state, &person).await?),
        Some(_) => None,
    };
    let mut answer = if made { HttpResponse::Created() } else { HttpResponse::Ok() };
    tracing::info!(person_sid = ?person.sid, role = role.as_str(), made, "console person added");
    Ok(answer.json(PersonView { set_password_url: link, ..person_view(&person) }))
}

fn role_param(text: &str) -> Result<PersonRole, ApiError> {
    PersonRole::parse(text)
        .ok_or_else(|| ApiError::bad_param("Role must be one of agent, supervisor, admin"))
}

fn add_refused(error: AddPersonError) -> ApiError {
    match error {
        AddPersonError::Rejected(rejection) => rejected(rejection),
        AddPersonError::Engine(error) => error.into(),
        other => ApiError::bad_param(other.to_string()),
    }
}

fn rejected(rejection: PersonRejection) -> ApiError {
    match rejection {
        PersonRejection::UsernameTaken(_) => ApiError::conflict(20409, rejection.to_string()),
        PersonRejection::NotFound => ApiError::new(404, 20404, "The person was not found"),
        other => ApiError::bad_param(other.to_string()),
    }
}

/// Issues a new one-time set-password link (replacing any pending one); its URL.
async fn issue_link(state: &AppState, person: &PersonState) -> Result<String, ApiError> {
    let sid = person.sid.ok_or_else(ApiError::internal)?;
    let secret = password::random_secret();
    let now = state.engine.now();
    let expires_at = Timestamp::from_millis(now.as_millis() + PASSWORD_LINK_LIFETIME_MS);
    let command =
        PersonCommand::IssuePasswordLink { digest: password::secret_digest(&secret), expires_at };
    state.engine.people().execute(sid, vec![command], now).await?.map_err(rejected)?;
    Ok(state.url(&format!("/console#set-password={secret}")))
}

fn person_of(state: &AppState, request: &HttpRequest) -> Result<PersonState, ApiError> {
    let text = request.match_info().get("sid").unwrap_or_default();
    let sid = Sid::parse_with(text, SidPrefix::PERSON);
    sid.ok()
        .and_then(|sid| state.engine.people().get(sid))
        .ok_or_else(|| ApiError::not_found(request.path()))
}

/// One person.
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchPerson",
    security(("basic" = []), ("consoleSession" = [])),
    params(("sid" = String, Path, description = "The person (`PN…`)")),
    responses((status = 200, description = "The person", body = PersonView)),
)]
#[get("/admin/v1/People/{sid}")]
async fn fetch(
    _: PeopleManager,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<web::Json<PersonView>, ApiError> {
    Ok(web::Json(person_view(&person_of(&state, &request)?)))
}

/// Changes a person's `Role` (an audit event).
#[utoipa::path(
    tag = "Console",
    operation_id = "UpdatePerson",
    security(("basic" = []), ("consoleSession" = [])),
    params(("sid" = String, Path, description = "The person (`PN…`)")),
    request_body(content_type = "application/x-www-form-urlencoded", content = String,
        description = "`Role`: agent, supervisor or admin"),
    responses((status = 200, description = "The person", body = PersonView)),
)]
#[post("/admin/v1/People/{sid}")]
async fn update(
    _: PeopleManager,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: TwilioForm,
) -> Result<web::Json<PersonView>, ApiError> {
    let person = person_of(&state, &request)?;
    let role = role_param(form.require("Role")?)?;
    let sid = person.sid.ok_or_else(ApiError::internal)?;
    let command = vec![PersonCommand::ChangeRole(role)];
    let changed = state.engine.people().execute(sid, command, state.engine.now()).await?;
    let changed = changed.map_err(rejected)?;
    tracing::info!(person_sid = %sid, role = role.as_str(), "console role changed");
    Ok(web::Json(person_view(&changed)))
}

/// Issues a new one-time set-password link for a person (the previous one stops working).
#[utoipa::path(
    tag = "Console",
    operation_id = "CreatePersonPasswordLink",
    security(("basic" = []), ("consoleSession" = [])),
    params(("sid" = String, Path, description = "The person (`PN…`)")),
    responses((status = 201, description = "The link", body = PersonView)),
)]
#[post("/admin/v1/People/{sid}/PasswordLink")]
async fn password_link(
    _: PeopleManager,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let person = person_of(&state, &request)?;
    let link = issue_link(&state, &person).await?;
    let view = PersonView { set_password_url: Some(link), ..person_view(&person) };
    Ok(HttpResponse::Created().json(view))
}
