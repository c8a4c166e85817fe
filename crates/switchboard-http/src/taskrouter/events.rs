//! TaskRouter Events: list (a time window, by default the last 15 minutes, filtered by type and
//! by the task, reservation, worker, queue, workflow or resource they concern) and fetch by SID,
//! read from the workspace's event log.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use heck::ToSnakeCase;
use serde::Serialize;
use switchboard_actors::{EventQuery, LoggedRouterEvent};
use switchboard_domain::{Sid, SidPrefix, Timestamp};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::workspace_path;
use super::{path_sid, workspace_in_path};
use crate::auth::Principal;
use crate::lists::{page_response, PageParams, Paging};
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::time::parse_iso8601;
use crate::views::iso;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(fetch);
}

/// A TaskRouter event, as Twilio's Events resource shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// `EV…`
    pub sid: String,
    pub account_sid: String,
    pub workspace_sid: String,
    /// e.g. `reservation.created`.
    pub event_type: String,
    pub description: String,
    /// `Task`, `Reservation`, `Worker` or `TaskQueue`.
    pub resource_type: String,
    pub resource_sid: String,
    pub resource_url: String,
    /// The event's parameters (`task_sid`, `task_attributes`, `worker_name`, …) as they were.
    #[schema(value_type = Object)]
    pub event_data: BTreeMap<String, String>,
    pub event_date: String,
    pub event_date_ms: i64,
    /// Who caused it; not recorded, so always `null`.
    pub actor_sid: Option<String>,
    pub actor_type: Option<String>,
    pub actor_url: Option<String>,
    /// What made it: always `Twilio` (the router), as Twilio's own events say.
    pub source: String,
    pub source_ip_address: Option<String>,
    pub url: String,
}

crate::listing!(
    /// A page of events.
    EventList,
    events,
    Event
);

/// The largest page of events.
const MAX_PAGE_SIZE: usize = 1000;
/// The window a list covers unless it says: Twilio's 15 minutes.
const DEFAULT_MINUTES: i64 = 15;
/// How far back a window may start: Twilio keeps 30 days.
const MAX_DAYS: i64 = 30;

/// Lists the workspace's events.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListEvent",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("EventType" = Option<String>, Query, description = "Only events of this type (repeatable)"),
        ("Minutes" = Option<u32>, Query, description = "The window: this many minutes up to EndDate (default 15)"),
        ("StartDate" = Option<String>, Query, description = "The window's start (ISO 8601); at most 30 days back"),
        ("EndDate" = Option<String>, Query, description = "The window's end (ISO 8601); default now"),
        ("TaskSid" = Option<String>, Query, description = "Only events of this task"),
        ("ReservationSid" = Option<String>, Query, description = "Only events of this reservation"),
        ("WorkerSid" = Option<String>, Query, description = "Only events of this worker"),
        ("TaskQueueSid" = Option<String>, Query, description = "Only events of tasks in this queue"),
        ("WorkflowSid" = Option<String>, Query, description = "Only events of tasks of this workflow"),
        ("TaskChannel" = Option<String>, Query, description = "Only events of tasks of this task channel (unique name)"),
        ("ResourceSid" = Option<String>, Query, description = "Only events about this resource"),
        PageParams,
    ),
    responses((status = 200, description = "A page of events, oldest first", body = EventList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Events")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let mut paging = Paging::from_request(&request, MAX_PAGE_SIZE)?;
    let query = query(&paging, state.engine.now())?;
    // The window as worked out now, in the next pages' URLs: a window that moved with the
    // clock would shift what each page holds.
    paging.pin("StartDate", iso(query.since));
    paging.pin("EndDate", iso(query.until));
    let skip = paging.page.saturating_mul(paging.page_size);
    let router = state.engine.task_router();
    let (events, more) = router.events(workspace, &query, skip, paging.page_size)?;
    let events = events.iter().map(|e| event(&state, workspace, e)).collect();
    page_response::<EventList>(&state, &request, &paging, events, more)
}

/// Fetches one event.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchEvent",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The event (`EV…`)"),
    ),
    responses((status = 200, description = "The event", body = Event)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Events/{sid}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "sid", SidPrefix::TASKROUTER_EVENT)?;
    let found = state.engine.task_router().event(workspace, sid)?;
    let found = found.ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(event(&state, workspace, &found)))
}

/// The list's window and filters, from its query. A parameter sent empty counts as absent; a
/// window whose start is after its end holds nothing.
fn query(paging: &Paging, now: Timestamp) -> Result<EventQuery, ApiError> {
    let given = |name: &str| paging.filter(name).filter(|text| !text.is_empty());
    let date = |name: &str| given(name).map(|text| parse_iso8601(name, text)).transpose();
    // By default up to the end of the current second: page URLs carry whole seconds.
    let until = date("EndDate")?.unwrap_or_else(|| next_second(now));
    let minutes = match given("Minutes") {
        Some(text) => {
            text.parse::<i64>().ok().filter(|m| (1..=MAX_DAYS * 24 * 60).contains(m)).ok_or_else(
                || ApiError::bad_param("Minutes must be a whole number from 1 to 43200"),
            )?
        }
        None => DEFAULT_MINUTES,
    };
    // Twilio keeps 30 days of events: a StartDate before that is refused, and a window worked
    // out from Minutes and EndDate starts no earlier.
    let oldest = Timestamp::from_millis(now.as_millis() - MAX_DAYS * 24 * 60 * 60_000);
    let since = match date("StartDate")? {
        Some(since) if since < oldest => {
            return Err(ApiError::bad_param(format!(
                "StartDate must be within the last {MAX_DAYS} days: events are kept for \
                 {MAX_DAYS} days"
            )))
        }
        Some(since) => since,
        None => Timestamp::from_millis(until.as_millis() - minutes * 60_000).max(oldest),
    };
    let mut equal = Vec::new();
    let sids = [
        ("TaskSid", SidPrefix::TASK),
        ("ReservationSid", SidPrefix::RESERVATION),
        ("WorkerSid", SidPrefix::WORKER),
        ("TaskQueueSid", SidPrefix::TASK_QUEUE),
        ("WorkflowSid", SidPrefix::WORKFLOW),
    ];
    for (name, prefix) in sids {
        if let Some(text) = given(name) {
            let sid = Sid::parse_with(text, prefix).map_err(|_| {
                ApiError::bad_param(format!("{name} is not a {} SID", prefix.as_str()))
            })?;
            equal.push((name.to_owned(), sid.to_string()));
        }
    }
    // Any kind of resource: compared as text (a SID of no kind it knows matches nothing).
    if let Some(text) = given("ResourceSid") {
        equal.push(("ResourceSid".to_owned(), text.to_owned()));
    }
    if let Some(name) = given("TaskChannel") {
        equal.push(("TaskChannelUniqueName".to_owned(), name.to_owned()));
    }
    let event_types = paging.filters("EventType").into_iter().filter(|t| !t.is_empty());
    let event_types = event_types.map(str::to_owned).collect();
    Ok(EventQuery { since, until, event_types, equal })
}

/// The first whole second after `at`.
fn next_second(at: Timestamp) -> Timestamp {
    Timestamp::from_millis((at.as_millis().div_euclid(1000) + 1) * 1000)
}

fn event(state: &AppState, workspace: Sid, logged: &LoggedRouterEvent) -> Event {
    let record = &logged.record;
    let base = workspace_path(workspace);
    let nouns = match record.resource_type.as_str() {
        "Task" => "Tasks",
        "Worker" => "Workers",
        "TaskQueue" => "TaskQueues",
        _ => "Reservations",
    };
    let resource_path = match (nouns, record.get("TaskSid")) {
        ("Reservations", Some(task)) => format!("{base}/Tasks/{task}/Reservations"),
        _ => format!("{base}/{nouns}"),
    };
    Event {
        sid: logged.sid.to_string(),
        account_sid: state.credentials.account_sid.to_string(),
        workspace_sid: workspace.to_string(),
        event_type: record.event_type.clone(),
        description: record.description.clone(),
        resource_type: record.resource_type.clone(),
        resource_sid: record.resource_sid.to_string(),
        resource_url: state.url(&format!("{resource_path}/{}", record.resource_sid)),
        event_data: record.data.iter().map(|(k, v)| (k.to_snake_case(), v.clone())).collect(),
        event_date: iso(logged.at),
        event_date_ms: logged.at.as_millis(),
        actor_sid: None,
        actor_type: None,
        actor_url: None,
        source: "Twilio".to_owned(),
        source_ip_address: None,
        url: state.url(&format!("{base}/Events/{}", logged.sid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(query: &str) -> Paging {
        let request = actix_web::test::TestRequest::get()
            .uri(&format!("/taskrouter/v1/Workspaces/WS0/Events?{query}"))
            .to_http_request();
        Paging::from_request(&request, MAX_PAGE_SIZE).unwrap()
    }

    /// Events are kept 30 days, as Twilio keeps them: an older StartDate gets Twilio's 400, and
    /// a window from Minutes and an old EndDate starts no earlier than that.
    #[test]
    fn a_start_date_older_than_30_days_is_refused_and_no_window_reaches_past_them() {
        let now = Timestamp::from_millis(100 * 24 * 3_600_000);
        let day = |days: i64| iso(Timestamp::from_millis(now.as_millis() - days * 24 * 3_600_000));
        let refused = query(&paging(&format!("StartDate={}", day(31))), now).unwrap_err();
        assert_eq!((refused.status(), refused.code()), (400, 20001), "{}", refused.message());
        assert!(refused.message().contains("StartDate"), "{}", refused.message());
        let kept = query(&paging(&format!("StartDate={}", day(29))), now).unwrap();
        assert_eq!(iso(kept.since), day(29));
        let old_end = format!("EndDate={}&Minutes=43200", day(20));
        let clamped = query(&paging(&old_end), now).unwrap();
        assert_eq!(iso(clamped.since), day(30), "no earlier than what is kept");
    }

    #[test]
    fn twilio_s_parameter_names_become_event_data_keys() {
        for (name, key) in [
            ("TaskSid", "task_sid"),
            ("TaskQueueSid", "task_queue_sid"),
            ("WorkerActivitySid", "worker_activity_sid"),
            ("TaskChannelUniqueName", "task_channel_unique_name"),
        ] {
            assert_eq!(name.to_snake_case(), key);
        }
    }
}
