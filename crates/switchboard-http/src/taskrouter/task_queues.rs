//! TaskRouter TaskQueues: create (201; `TargetWorkers` checked as an expression), fetch, list,
//! update by POST (partial), delete (204; refused while a workflow targets the queue).

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::new_sid;
use switchboard_domain::SidPrefix;
use switchboard_routing::workspace::{
    Part, TaskOrder, TaskQueue as TaskQueueRecord, WorkspaceCommand, WorkspaceRejection,
    WorkspaceState,
};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::wire::{self, TaskQueue, TaskQueueList};
use super::{change_workspace, path_sid, workspace_in_path};
use crate::auth::Principal;
use crate::lists::{list_response, PageParams, Paging};
use crate::openapi::FORM;
use crate::state::AppState;
use crate::twilio::error::ApiError;
use crate::twilio::lengths;
use crate::twilio::typed_form::{sid_field, Form};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list).service(create).service(fetch).service(update).service(delete);
}

/// The form of a task queue create; an update takes the same, each optional.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
struct TaskQueueForm {
    /// Required at creation.
    #[schema(required = true)]
    friendly_name: Option<String>,
    /// The expression selecting the queue's workers; default `1==1`.
    target_workers: Option<String>,
    /// `1` only (the default).
    #[schema(value_type = Option<u32>)]
    max_reserved_workers: Option<u64>,
    /// `FIFO` only (the default).
    task_order: Option<String>,
    /// An activity (`WA…`) a worker moves to when reserved.
    reservation_activity_sid: Option<String>,
    /// An activity (`WA…`) a worker moves to when assigned.
    assignment_activity_sid: Option<String>,
}

const LIMITS: &[lengths::Limit] = &[lengths::TASKROUTER_NAME, lengths::TARGET_WORKERS];

/// Creates a task queue.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "CreateTaskQueue",
    params(("workspace" = String, Path, description = "The workspace (`WS…`)")),
    request_body(content = TaskQueueForm, content_type = FORM),
    responses((status = 201, description = "The new task queue", body = TaskQueue)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/TaskQueues")]
async fn create(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<TaskQueueForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let blank = TaskQueueRecord {
        sid: new_sid(SidPrefix::TASK_QUEUE),
        friendly_name: form.raw.required(form.friendly_name.as_deref(), "FriendlyName")?.to_owned(),
        target_workers: "1==1".to_owned(),
        max_reserved_workers: 1,
        task_order: TaskOrder::Fifo,
        reservation_activity_sid: None,
        assignment_activity_sid: None,
    };
    let (sid, queue) = (blank.sid, merge(blank, &form)?);
    let command = WorkspaceCommand::Add(Part::TaskQueue(queue));
    let workspace = change_workspace(&state, &request, |_| Ok(vec![command])).await?;
    Ok(HttpResponse::Created().json(render(&state, &workspace, sid)?))
}

/// Fetches a task queue.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "FetchTaskQueue",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The task queue (`WQ…`)"),
    ),
    responses((status = 200, description = "The task queue", body = TaskQueue)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/TaskQueues/{sid}")]
async fn fetch(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, workspace) = workspace_in_path(&state, &request)?;
    let sid = path_sid(&request, "sid", SidPrefix::TASK_QUEUE)?;
    let queue = render(&state, &workspace, sid).map_err(|_| ApiError::not_found(request.path()))?;
    Ok(HttpResponse::Ok().json(queue))
}

/// Lists a workspace's task queues.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "ListTaskQueue",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("FriendlyName" = Option<String>, Query, description = "Only the queue of this name"),
        PageParams,
    ),
    responses((status = 200, description = "A page of task queues", body = TaskQueueList)),
)]
#[get("/taskrouter/v1/Workspaces/{workspace}/TaskQueues")]
async fn list(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, workspace) = workspace_in_path(&state, &request)?;
    let paging = Paging::from_request(&request, 1000)?;
    let name = paging.filter("FriendlyName").map(str::to_owned);
    let queues: Vec<_> = workspace
        .task_queues_in_order()
        .into_iter()
        .filter(|k| name.as_deref().is_none_or(|n| k.record.friendly_name == n))
        .map(|k| wire::task_queue(&state, &workspace, k))
        .collect();
    list_response::<TaskQueueList>(&state, &request, &paging, queues)
}

/// Updates a task queue (partial).
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "UpdateTaskQueue",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The task queue (`WQ…`)"),
    ),
    request_body(content = TaskQueueForm, content_type = FORM),
    responses((status = 200, description = "The task queue", body = TaskQueue)),
)]
#[post("/taskrouter/v1/Workspaces/{workspace}/TaskQueues/{sid}")]
async fn update(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
    form: Form<TaskQueueForm>,
) -> Result<HttpResponse, ApiError> {
    lengths::check(&form.raw, LIMITS)?;
    let sid = path_sid(&request, "sid", SidPrefix::TASK_QUEUE)?;
    // Checked before the writer is taken, so a bad parameter never waits for it.
    merge(blank_like(sid), &form)?;
    let workspace = change_workspace(&state, &request, |workspace| {
        let queue =
            workspace.task_queue(sid).cloned().ok_or(WorkspaceRejection::PartNotFound(sid))?;
        let queue =
            merge(queue, &form).map_err(|e| WorkspaceRejection::Invalid(e.message().to_owned()))?;
        Ok(vec![WorkspaceCommand::Replace(Part::TaskQueue(queue))])
    })
    .await?;
    Ok(HttpResponse::Ok().json(render(&state, &workspace, sid)?))
}

/// Deletes a task queue no workflow targets.
#[utoipa::path(
    tag = "TaskRouter",
    operation_id = "DeleteTaskQueue",
    params(
        ("workspace" = String, Path, description = "The workspace (`WS…`)"),
        ("sid" = String, Path, description = "The task queue (`WQ…`)"),
    ),
    responses((status = 204, description = "Deleted")),
)]
#[delete("/taskrouter/v1/Workspaces/{workspace}/TaskQueues/{sid}")]
async fn delete(
    _: Principal,
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sid = path_sid(&request, "sid", SidPrefix::TASK_QUEUE)?;
    change_workspace(&state, &request, |_| Ok(vec![WorkspaceCommand::Remove(sid)])).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Twilio's update is partial: what the form names changes. The domain checks the result
/// (the expression, the activities, what is not supported).
fn merge(mut queue: TaskQueueRecord, form: &TaskQueueForm) -> Result<TaskQueueRecord, ApiError> {
    if let Some(name) = &form.friendly_name {
        name.clone_into(&mut queue.friendly_name);
    }
    if let Some(target) = &form.target_workers {
        target.clone_into(&mut queue.target_workers);
    }
    if let Some(count) = form.max_reserved_workers {
        queue.max_reserved_workers = u32::try_from(count).unwrap_or(u32::MAX);
    }
    match form.task_order.as_deref() {
        None => {}
        Some("FIFO") => queue.task_order = TaskOrder::Fifo,
        Some("LIFO") => queue.task_order = TaskOrder::Lifo,
        Some(other) => {
            return Err(ApiError::bad_param(format!(
                "TaskOrder must be FIFO or LIFO, not {other:?}"
            )))
        }
    }
    if let Some(given) = &form.reservation_activity_sid {
        queue.reservation_activity_sid =
            sid_field("ReservationActivitySid", Some(given), SidPrefix::ACTIVITY)?;
    }
    if let Some(given) = &form.assignment_activity_sid {
        queue.assignment_activity_sid =
            sid_field("AssignmentActivitySid", Some(given), SidPrefix::ACTIVITY)?;
    }
    Ok(queue)
}

fn blank_like(sid: switchboard_domain::Sid) -> TaskQueueRecord {
    TaskQueueRecord {
        sid,
        friendly_name: String::new(),
        target_workers: String::new(),
        max_reserved_workers: 1,
        task_order: TaskOrder::Fifo,
        reservation_activity_sid: None,
        assignment_activity_sid: None,
    }
}

fn render(
    state: &AppState,
    workspace: &WorkspaceState,
    sid: switchboard_domain::Sid,
) -> Result<TaskQueue, ApiError> {
    let kept = workspace.task_queues.get(&sid).ok_or_else(ApiError::internal)?;
    Ok(wire::task_queue(state, workspace, kept))
}
