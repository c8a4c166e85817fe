//! TaskRouter Tasks (create 201, fetch with `ETag`, list with `AssignmentStatus`, update with
//! `If-Match`, delete 204) and their Reservations (list, fetch, answer).

use actix_web::http::header::{ETAG, IF_MATCH};
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::{NewTask, TaskChanges};
use switchboard_domain::{Sid, SidPrefix};
use switchboard_routing::task::{AssignmentStatus, TaskState, MAX_PRIORITY, MAX_TIMEOUT_SECS};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, Reservation, ReservationList, Task, TaskList};
use super::workers::{answer_of, ReservationForm};
use super::{path_sid, routed, workspace_in_path};
use crate::auth::Principal;
use crate::lists::{list_response, page_response, PageParams, Paging};
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
        .service(list_reservations)
        .service(fetch_reservation)
        .service(update_reservation);
}

/// The form of a task create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct CreateTaskForm {
    /// A JSON object; default `{}`.
    attributes: Option<String>,
    /// The workflow (`WW…`); may be left out when the workspace has one.
    workflow_sid: Option<String>,
    /// A task channel's unique name or SID; default `default`.
    task_channel: Option<String>,
    /// From 0 to 2^31−1; default 0.
    #[schema(value_type = Option<u32>)]
    priority: Option<u64>,
    /// Seconds it may live (its TTL), up to 1 209 600; default 86 400.
    #[schema(value_type = Option<u32>)]
    timeout: Option<u64>,
}

/// The form of a task update.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct UpdateTaskForm {
    attributes: Option<String>,
    #[schema(value_type = Option<u32>)]
    priority: Option<u64>,
    /// `canceled`, `wrapping` or `completed`.
    assignment_status: Option<String>,
    /// Why it was canceled or completed (required with those).
    reason: Option<String>,
}

const LIMITS: &[lengths::Limit] = &[lengths::TASKROUTER_ATTRIBUTES, lengths::TASK_REASON];

/// Creates a task and routes it through its workflow at once.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateTask",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = CreateTaskForm, content_type = FORM),
    responses((status = 201, description = "The new task", body = Task)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Tasks")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<CreateTaskForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let (workspace, config) = workspace_in_path(&state, &request)?;
    let form = form.fields;
    let new = NewTask {
        task_sid: None,
        workflow_sid: sid_field("WorkflowSid", form.workflow_sid.as_deref(), SidPrefix::WORKFLOW)?,
        task_channel: form.task_channel.filter(|c| !c.is_empty()),
        attributes: form.attributes.unwrap_or_else(|| "{}".to_owned()),
        priority: bounded("Priority", form.priority, MAX_PRIORITY)?,
        timeout_secs: bounded("Timeout", form.timeout, MAX_TIMEOUT_SECS)?,
    };
    let account = state.credentials.account_sid;
    let task = routed(state.engine.tasks().create(workspace, account, new).await?, &request)?;
    let at = state.engine.now();
    Ok(with_etag(HttpResponse::Created(), &task).json(wire::task(&state, Some(&config), &task, at)))
}

/// Fetches a task (finished ones too), with its version as `ETag`.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchTask",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("task" = String, Path, description = "The task (`WT…`)"),
    ),
    responses((status = 200, description = "The task", body = Task)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (config, task) = task_in_path(&state, &request)?;
    let rendered = wire::task(&state, Some(&config), &task, state.engine.now());
    Ok(with_etag(HttpResponse::Ok(), &task).json(rendered))
}

/// Lists a workspace's open tasks and those finished in the last five minutes.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListTask",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("AssignmentStatus" = Option<Vec<String>>, Query, description = "Only tasks in these statuses (repeatable)"),
        ("WorkflowSid" = Option<String>, Query, description = "Only the tasks of this workflow"),
        ("TaskQueueSid" = Option<String>, Query, description = "Only the tasks in this queue"),
        PageParams,
    ),
    responses((status = 200, description = "A page of tasks", body = TaskList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Tasks")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, config) = workspace_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let statuses: Vec<String> =
        paging.filters("AssignmentStatus").iter().map(|s| (*s).to_owned()).collect();
    let workflow = paging.filter("WorkflowSid").map(str::to_owned);
    let queue = paging.filter("TaskQueueSid").map(str::to_owned);
    let now = state.engine.now();
    let router = state.engine.task_router();
    let admitted: Vec<_> = router
        .task_list(workspace)
        .into_iter()
        .filter(|t| {
            statuses.is_empty() || statuses.iter().any(|s| s == t.assignment_status().as_str())
        })
        .filter(|t| {
            workflow.as_deref().is_none_or(|w| t.workflow_sid().is_some_and(|x| x.to_string() == w))
        })
        .filter(|t| {
            queue.as_deref().is_none_or(|q| t.queue_sid().is_some_and(|x| x.to_string() == q))
        })
        .collect();
    // Only the page is rendered (its attributes shown, its age and links made), not every open
    // task of the workspace, and only its idle tasks are read from the log.
    let range = paging.range(admitted.len());
    let has_more = admitted.len() > range.end;
    let mut page = Vec::with_capacity(range.len());
    for listed in admitted.into_iter().skip(range.start).take(range.len()) {
        if let Some(task) = router.listed_state(listed)? {
            page.push(wire::task(&state, Some(&config), &task, now));
        }
    }
    page_response::<TaskList>(&state, &request, &paging, page, has_more)
}

/// Updates a task: attributes (a pending task is routed again), priority, or its status
/// (`canceled`, `wrapping`, `completed`, with `Reason`); `If-Match` makes it conditional.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateTask",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("task" = String, Path, description = "The task (`WT…`)"),
        ("If-Match" = Option<String>, Header, description = "The version (`ETag`) the update applies to"),
    ),
    request_body(content = UpdateTaskForm, content_type = FORM),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 412, description = "If-Match names another version", body = crate::twilio::error::ErrorBody),
    ),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<UpdateTaskForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let (workspace, config) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "task", SidPrefix::TASK)?;
    let changes = task_changes(&request, form.fields)?;
    let at = state.engine.now();
    let task = routed(state.engine.tasks().update(workspace, sid, changes).await?, &request)?;
    Ok(with_etag(HttpResponse::Ok(), &task).json(wire::task(&state, Some(&config), &task, at)))
}

/// Deletes a task (its pending reservation is canceled).
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteTask",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("task" = String, Path, description = "The task (`WT…`)"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "task", SidPrefix::TASK)?;
    let router = state.engine.task_router();
    routed(router.delete_task(workspace, sid, state.engine.now()).await?, &request)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lists a task's reservations.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListTaskReservation",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("task" = String, Path, description = "The task (`WT…`)"),
        ("ReservationStatus" = Option<String>, Query, description = "Only reservations in this status"),
        PageParams,
    ),
    responses((status = 200, description = "A page of reservations", body = ReservationList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}/Reservations")]
async fn list_reservations(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, task) = task_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let status = paging.filter("ReservationStatus").map(str::to_owned);
    let reservations: Vec<_> = task
        .reservations
        .iter()
        .filter(|r| status.as_deref().is_none_or(|s| r.status.as_str() == s))
        .map(|r| wire::reservation(&state, &task, r))
        .collect();
    list_response::<ReservationList>(&state, &request, &paging, reservations)
}

/// Fetches one of a task's reservations.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchTaskReservation",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("task" = String, Path, description = "The task (`WT…`)"),
        ("reservation" = String, Path, description = "The reservation (`WR…`)"),
    ),
    responses((status = 200, description = "The reservation", body = Reservation)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}/Reservations/{reservation}")]
async fn fetch_reservation(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, task) = task_in_path(&state, &request)?;
    let sid = path_sid(&request, "reservation", SidPrefix::RESERVATION)?;
    let reservation = task.reservation(sid).ok_or_else(|| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(wire::reservation(&state, &task, reservation)))
}

/// Answers a reservation (`ReservationStatus`): accepting is idempotent for its worker.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateTaskReservation",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("task" = String, Path, description = "The task (`WT…`)"),
        ("reservation" = String, Path, description = "The reservation (`WR…`)"),
    ),
    request_body(content = ReservationForm, content_type = FORM),
    responses((status = 200, description = "The reservation", body = Reservation)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/Tasks/{task}/Reservations/{reservation}")]
async fn update_reservation(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<ReservationForm>,
) -> Result<HttpResponse, ApiError> {
    let (_, task) = task_in_path(&state, &request)?;
    let task_sid = task.sid.ok_or_else(ApiError::internal)?;
    let sid = path_sid(&request, "reservation", SidPrefix::RESERVATION)?;
    answer(&state, &request, &form, task_sid, sid).await
}

/// Carries out a reservation's answer and renders the reservation after it.
pub(super) async fn answer(
    state: &AppState,
    request: &HttpRequest,
    form: &ReservationForm,
    task: Sid,
    reservation: Sid,
) -> Result<HttpResponse, ApiError> {
    let (workspace, _) = workspace_in_path(state, request)?;
    let answer = answer_of(&form.reservation_status)?;
    let answered =
        state.engine.tasks().answer_reservation(workspace, task, reservation, answer).await?;
    let after = routed(answered, request)?;
    let found = after.reservation(reservation).ok_or_else(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(wire::reservation(state, &after, found)))
}

/// The workspace and the task the path names.
fn task_in_path(
    state: &AppState,
    request: &HttpRequest,
) -> Result<(switchboard_routing::workspace::WorkspaceState, TaskState), ApiError> {
    let (workspace, config) = workspace_in_path(state, request)?;
    let sid = path_sid(request, "task", SidPrefix::TASK)?;
    let task = state.engine.task_router().task(workspace, sid)?;
    Ok((config, task.ok_or_else(|| ApiError::not_found(request.path()))?))
}

fn task_changes(request: &HttpRequest, form: UpdateTaskForm) -> Result<TaskChanges, ApiError> {
    let if_match = match request.headers().get(IF_MATCH) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default().trim().trim_matches('"');
            Some(
                text.parse::<u64>()
                    .map_err(|_| ApiError::bad_param("If-Match must be a task's ETag"))?,
            )
        }
    };
    let assignment_status = match form.assignment_status.as_deref() {
        None => None,
        Some("canceled") => Some(AssignmentStatus::Canceled),
        Some("completed") => Some(AssignmentStatus::Completed),
        Some("wrapping") => Some(AssignmentStatus::Wrapping),
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "AssignmentStatus must be canceled, wrapping or completed, not {other:?}"
            )))
        }
    };
    let reason = form.reason.filter(|r| !r.is_empty());
    if matches!(assignment_status, Some(AssignmentStatus::Canceled | AssignmentStatus::Completed))
        && reason.is_none()
    {
        return Err(ApiError::bad_param(
            "Reason is required when AssignmentStatus is canceled or completed",
        ));
    }
    Ok(TaskChanges {
        if_match,
        attributes: form.attributes,
        priority: bounded("Priority", form.priority, MAX_PRIORITY)?,
        assignment_status,
        reason,
    })
}

/// A whole number from 0 to `max`.
fn bounded(name: &str, given: Option<u64>, max: u32) -> Result<Option<u32>, ApiError> {
    match given {
        None => Ok(None),
        Some(n) if n <= u64::from(max) => Ok(Some(n as u32)),
        Some(_) => Err(ApiError::bad_param(format!("{name} must be from 0 to {max}"))),
    }
}

fn with_etag(
    mut builder: actix_web::HttpResponseBuilder,
    task: &TaskState,
) -> actix_web::HttpResponseBuilder {
    builder.insert_header((ETAG, format!("\"{}\"", task.version)));
    builder
}
