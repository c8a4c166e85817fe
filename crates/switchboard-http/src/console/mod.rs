//! The agent console's server side: its page (`/console`, built in `switchboard-web`), signing
//! in and out with sessions (`session.rs`, `sign_in.rs`), the people it is for (`people.rs`,
//! `/admin/v1/People`), and what the agent view reads beside its WebSocket (`agent.rs`: the
//! activities, the agent's own conversations and their messages) and transfers (`transfer.rs`);
//! the supervisor view (`supervisor.rs`: queues, agents, live conversations watched read-only,
//! moving a task) and what the admin view needs beside the REST routes it calls with the admin's
//! session (`setup.rs`: expression checks, the integrity check; `keys.rs`: API keys).
//! What each role may do is the domain's (`switchboard_domain::permits`); this layer asks it on
//! every call.

pub mod agent;
pub mod keys;
pub mod people;
pub mod session;
pub mod setup;
pub mod sign_in;
pub mod supervisor;
pub mod transfer;

use actix_web::http::header;
use actix_web::{get, HttpResponse};
use serde::Serialize;
use switchboard_domain::PersonState;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

pub use session::Sessions;

/// Where the console's hashed assets are served (beside the webchat's).
const ASSETS: &str = "/webchat/v1/assets";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(page)
        .configure(sign_in::routes)
        .configure(people::routes)
        .configure(agent::routes)
        .configure(transfer::routes)
        .configure(supervisor::routes)
        .configure(setup::routes)
        .configure(keys::routes);
}

/// A person as the console and `/admin/v1/People` show them (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    pub sid: String,
    pub username: String,
    /// agent, supervisor or admin
    pub role: String,
    /// Whether a password is set (else only a set-password link signs them in).
    pub has_password: bool,
    pub chat_service_sid: Option<String>,
    pub user_sid: Option<String>,
    pub workspace_sid: Option<String>,
    pub worker_sid: Option<String>,
    pub date_created: String,
    pub date_updated: String,
    /// The one-time link that sets their password, when one was issued by this call: shown
    /// once, only its digest is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_password_url: Option<String>,
}

pub fn person_view(person: &PersonState) -> PersonView {
    let links = person.links;
    let text = |sid: Option<switchboard_domain::Sid>| sid.map(|s| s.to_string());
    PersonView {
        sid: text(person.sid).unwrap_or_default(),
        username: person.username.clone(),
        role: person.role.map(|r| r.as_str().to_owned()).unwrap_or_default(),
        has_password: person.password_hash.is_some(),
        chat_service_sid: text(links.map(|l| l.chat_service_sid)),
        user_sid: text(links.map(|l| l.user_sid)),
        workspace_sid: text(links.map(|l| l.workspace_sid)),
        worker_sid: text(links.map(|l| l.worker_sid)),
        date_created: switchboard_actors::iso8601(person.date_created),
        date_updated: switchboard_actors::iso8601(person.date_updated),
        set_password_url: None,
    }
}

/// The console page: scripts and styles from the daemon only, no inline script, never framed.
/// Images may also be `blob:` URLs: the console fetches an attachment's bytes with its token
/// (a media request needs one) and shows them from a blob its own script made.
#[utoipa::path(
    tag = "Console",
    operation_id = "FetchConsolePage",
    security(()),
    responses((status = 200, description = "The console", body = String, content_type = "text/html")),
)]
#[get("/console")]
async fn page() -> HttpResponse {
    let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
                  connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(switchboard_web::console_page(ASSETS))
}
