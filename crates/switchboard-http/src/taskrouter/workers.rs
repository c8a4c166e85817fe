//! TaskRouter Workers (create 201, fetch, list, update, delete 204), their Channels (capacity
//! and availability per task channel) and their Reservations.

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::{NewWorker, ReservationAnswer, WorkerChanges};
use switchboard_domain::SidPrefix;
use switchboard_routing::worker::WorkerState;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{
    self, Reservation, ReservationList, Worker, WorkerChannel, WorkerChannelList, WorkerList,
};
use super::{path_sid, routed, workspace_in_path};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(fetch)
        .service(update)
        .service(delete)
        .service(list_channels)
        .service(fetch_channel)
        .service(update_channel)
        .service(list_reservations)
        .service(fetch_reservation)
        .service(update_reservation);
}

/// The form of a worker create; an update takes the same, each optional.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct WorkerForm {
    /// Required at creation.
    #[schema(required = true)]
    friendly_name: Option<String>,
    /// A JSON object; default `{}`.
    attributes: Option<String>,
    /// An activity (`WA…`); the workspace's default activity when not given.
    activity_sid: Option<String>,
    /// Update only: reject the worker's pending reservations when the new activity is not an
    /// available one.
    reject_pending_reservations: Option<bool>,
}

/// The form of a worker channel update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct WorkerChannelForm {
    /// From 0 to 50.
    #[schema(value_type = Option<u32>)]
    capacity: Option<u64>,
    available: Option<bool>,
}

/// The form of a reservation update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReservationForm {
    /// `accepted`, `rejected`, `wrapping` or `completed`.
    pub(super) reservation_status: String,
}

const LIMITS: &[lengths::Limit] = &[lengths::WORKER_NAME, lengths::TASKROUTER_ATTRIBUTES];

/// Creates a worker, with a channel of capacity 1 on every task channel of the workspace.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateWorker",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = WorkerForm, content_type = FORM),
    responses((status = 201, description = "The new worker", body = Worker)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Workers")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<WorkerForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let Form { fields: form, raw } = form;
    let new = NewWorker {
        friendly_name: raw.required(form.friendly_name.as_deref(), "FriendlyName")?.to_owned(),
        attributes: form.attributes.unwrap_or_else(|| "{}".to_owned()),
        activity_sid: sid_field("ActivitySid", form.activity_sid.as_deref(), SidPrefix::ACTIVITY)?,
    };
    let account = state.credentials.account_sid;
    let router = state.engine.task_router();
    let worker =
        routed(router.create_worker(workspace, account, new, state.engine.now()).await?, &request)?;
    Ok(HttpResponse::Created().json(wire::worker(&state, &worker)))
}

/// Fetches a worker.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchWorker",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
    ),
    responses((status = 200, description = "The worker", body = Worker)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let worker = worker_in_path(&state, &request)?;
    Ok(HttpResponse::Ok().json(wire::worker(&state, &worker)))
}

/// Lists a workspace's workers.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListWorker",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("FriendlyName" = Option<String>, Query, description = "Only the worker of this name"),
        ("ActivitySid" = Option<String>, Query, description = "Only the workers in this activity"),
        ("Available" = Option<bool>, Query, description = "Only available (or unavailable) ones"),
        PageParams,
    ),
    responses((status = 200, description = "A page of workers", body = WorkerList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workers")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let name = paging.filter("FriendlyName").map(str::to_owned);
    let activity = paging.filter("ActivitySid").map(str::to_owned);
    let available = paging.filter_bool("Available")?;
    let workers: Vec<_> = state
        .engine
        .task_router()
        .workers(workspace)
        .iter()
        .filter(|w| name.as_deref().is_none_or(|n| w.friendly_name.eq_ignore_ascii_case(n)))
        .filter(|w| {
            activity
                .as_deref()
                .is_none_or(|a| w.activity.as_ref().is_some_and(|x| x.sid.to_string() == a))
        })
        .filter(|w| available.is_none_or(|a| w.available() == a))
        .map(|w| wire::worker(&state, w))
        .collect();
    list_response::<WorkerList>(&state, &request, &paging, workers)
}

/// Updates a worker (partial): name, attributes, activity.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateWorker",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
    ),
    request_body(content = WorkerForm, content_type = FORM),
    responses((status = 200, description = "The worker", body = Worker)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<WorkerForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "worker", SidPrefix::WORKER)?;
    let form = form.fields;
    let changes = WorkerChanges {
        friendly_name: form.friendly_name,
        attributes: form.attributes,
        activity_sid: sid_field("ActivitySid", form.activity_sid.as_deref(), SidPrefix::ACTIVITY)?,
        reject_pending_reservations: form.reject_pending_reservations.unwrap_or(false),
    };
    let router = state.engine.task_router();
    let worker =
        routed(router.update_worker(workspace, sid, changes, state.engine.now()).await?, &request)?;
    Ok(HttpResponse::Ok().json(wire::worker(&state, &worker)))
}

/// Deletes a worker that holds no task.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteWorker",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "worker", SidPrefix::WORKER)?;
    let router = state.engine.task_router();
    routed(router.delete_worker(workspace, sid, state.engine.now()).await?, &request)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists a worker's channels.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListWorkerChannel",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
        PageParams,
    ),
    responses((status = 200, description = "A page of worker channels", body = WorkerChannelList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}/Channels")]
async fn list_channels(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let worker = worker_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let channels: Vec<_> = worker.channels.iter().map(|c| channel(&state, &worker, c)).collect();
    list_response::<WorkerChannelList>(&state, &request, &paging, channels)
}

/// Fetches a worker's channel, by its `WC` SID or its task channel's SID or unique name.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchWorkerChannel",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
        ("channel" = String, Path, description = "The worker channel (`WC…`), or its task channel (`TC…` or unique name)"),
    ),
    responses((status = 200, description = "The worker channel", body = WorkerChannel)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}/Channels/{channel}")]
async fn fetch_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let worker = worker_in_path(&state, &request)?;
    let found = channel_in_path(&worker, &request)?;
    Ok(HttpResponse::Ok().json(channel(&state, &worker, found)))
}

/// Sets a worker's capacity or availability on one task channel.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateWorkerChannel",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
        ("channel" = String, Path, description = "The worker channel (`WC…`), or its task channel (`TC…` or unique name)"),
    ),
    request_body(content = WorkerChannelForm, content_type = FORM),
    responses((status = 200, description = "The worker channel", body = WorkerChannel)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}/Channels/{channel}")]
async fn update_channel(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<WorkerChannelForm>,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let worker = worker_in_path(&state, &request)?;
    let task_channel = channel_in_path(&worker, &request)?.task_channel_sid;
    let WorkerChannelForm { capacity, available } = form.fields;
    let capacity = capacity
        .map(|c| {
            u32::try_from(c).map_err(|_| ApiError::bad_param("Capacity must be between 0 and 50"))
        })
        .transpose()?;
    let router = state.engine.task_router();
    let worker_sid = worker.sid.ok_or_else(ApiError::internal)?;
    let at = state.engine.now();
    let changed = routed(
        router
            .update_worker_channel(workspace, worker_sid, task_channel, capacity, available, at)
            .await?,
        &request,
    )?;
    let updated = changed.channel(task_channel).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(channel(&state, &changed, updated)))
}

/// Lists a worker's reservations (of its open tasks and those finished lately).
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListWorkerReservation",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
        ("ReservationStatus" = Option<String>, Query, description = "Only reservations in this status"),
        PageParams,
    ),
    responses((status = 200, description = "A page of reservations", body = ReservationList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}/Reservations")]
async fn list_reservations(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let worker = worker_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let status = paging.filter("ReservationStatus").map(str::to_owned);
    let mut reservations = Vec::new();
    for task in state.engine.task_router().tasks_offered(workspace) {
        for reservation in task.reservations.iter().filter(|r| Some(r.worker_sid) == worker.sid) {
            if status.as_deref().is_none_or(|s| reservation.status.as_str() == s) {
                reservations.push(wire::reservation(&state, &task, reservation));
            }
        }
    }
    list_response::<ReservationList>(&state, &request, &paging, reservations)
}

/// Fetches one of a worker's reservations.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchWorkerReservation",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
        ("reservation" = String, Path, description = "The reservation (`WR…`)"),
    ),
    responses((status = 200, description = "The reservation", body = Reservation)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}/Reservations/{reservation}")]
async fn fetch_reservation(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (task, sid) = worker_reservation(&state, &request)?;
    let reservation = task.reservation(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(wire::reservation(&state, &task, reservation)))
}

/// Answers one of a worker's reservations (`ReservationStatus`).
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateWorkerReservation",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("worker" = String, Path, description = "The worker (`WK…`)"),
        ("reservation" = String, Path, description = "The reservation (`WR…`)"),
    ),
    request_body(content = ReservationForm, content_type = FORM),
    responses((status = 200, description = "The reservation", body = Reservation)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Workers/{worker}/Reservations/{reservation}")]
async fn update_reservation(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<ReservationForm>,
) -> Result<HttpResponse, ApiError> {
    let (task, reservation) = worker_reservation(&state, &request)?;
    let task_sid = task.sid.ok_or_else(ApiError::internal)?;
    super::tasks::answer(&state, &request, &form, task_sid, reservation).await
}

/// The live worker the path names.
fn worker_in_path(state: &AppState, request: &HttpRequest) -> Result<WorkerState, ApiError> {
    let (workspace, _) = workspace_in_path(state, request)?;
    let sid = path_sid(request, "worker", SidPrefix::WORKER)?;
    state
        .engine
        .task_router()
        .worker(workspace, sid)
        .ok_or_else(|| ApiError::not_found(request.path()))
}

/// The worker's channel the path names by `WC`, `TC` or the task channel's unique name.
fn channel_in_path<'a>(
    worker: &'a WorkerState,
    request: &HttpRequest,
) -> Result<&'a switchboard_routing::worker::WorkerChannel, ApiError> {
    let named = request.match_info().get("channel").unwrap_or_default();
    worker
        .channels
        .iter()
        .find(|c| {
            c.sid.to_string() == named
                || c.task_channel_sid.to_string() == named
                || c.task_channel_unique_name == named
        })
        .ok_or_else(|| ApiError::not_found(request.path()))
}

fn channel(
    state: &AppState,
    worker: &WorkerState,
    found: &switchboard_routing::worker::WorkerChannel,
) -> WorkerChannel {
    let held =
        worker.sid.map_or(0, |sid| state.engine.task_router().held_on(sid, found.task_channel_sid));
    wire::worker_channel(state, worker, found, held)
}

/// The task holding the reservation the path names, which must be the worker's.
fn worker_reservation(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(switchboard_routing::task::TaskState, switchboard_domain::Sid), ApiError> {
    let (workspace, _) = workspace_in_path(state, request)?;
    let worker = worker_in_path(state, request)?;
    let sid = path_sid(request, "reservation", SidPrefix::RESERVATION)?;
    let task = state
        .engine
        .task_router()
        .tasks_offered(workspace)
        .into_iter()
        .find(|t| t.reservation(sid).is_some_and(|r| Some(r.worker_sid) == worker.sid))
        .ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok((task, sid))
}

/// `ReservationStatus` as an answer.
pub(super) fn answer_of(status: &str) -> Result<ReservationAnswer, ApiError> {
    match status {
        "accepted" => Ok(ReservationAnswer::Accepted),
        "rejected" => Ok(ReservationAnswer::Rejected),
        "wrapping" => Ok(ReservationAnswer::Wrapping),
        "completed" => Ok(ReservationAnswer::Completed),
        other => Err(ApiError::bad_param(format!(
            "ReservationStatus must be accepted, rejected, wrapping or completed, not {other:?}"
        ))),
    }
}
